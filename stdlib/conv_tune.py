"""Choosing conv2d's algorithm, Winograd tile size m and kernel tiles by measurement.

`tune_conv2d(x, w, padding=, stride=, backend=)` runs every candidate on the caller's tensors:
the direct implicit GEMM and Winograd F(m, 3) for m in 2, 4, 6, each with a few tile configs (the
tuning space below). Each output is compared with a float64 torch reference on the same inputs;
a candidate whose error (max |error| / max |reference|) exceeds the dtype's limit is `wrong` and
never chosen (this is what keeps F(6, 3) out in f16). The fastest of the rest is stored in the
tuning database (tilelang/autotune/db.py) for the call's shape class, keyed by the dtype, kernel
size, stride and padding, and `conv2d(algorithm="auto")` reads it back in any later process.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import tilelang as tl

# Max |error| / max |reference| a candidate may have (f32: about 10x what F(6,3) gives; f16:
# about 2.5x what F(4,3) gives, which rules F(6,3) out: see docs/stdlib.md's accuracy table).
ACCURACY_LIMIT = {"float32": 1e-4, "float16": 5e-3}

CPU_SPACE = {
    "direct": [dict(BLOCK_P=64, BLOCK_K=64, BLOCK_C=64), dict(BLOCK_P=128, BLOCK_K=64, BLOCK_C=32),
               dict(BLOCK_P=32, BLOCK_K=128, BLOCK_C=64)],
    "winograd": [dict(BLOCK_T=32, BLOCK_K=64, BLOCK_C=32), dict(BLOCK_T=64, BLOCK_K=64, BLOCK_C=16),
                 dict(BLOCK_T=16, BLOCK_K=64, BLOCK_C=16), dict(BLOCK_T=32, BLOCK_K=64, BLOCK_C=64)],
}
GPU_SPACE = {
    "direct": [dict(BLOCK_P=128, BLOCK_K=64, BLOCK_C=32, num_warps=4, num_stages=3),
               dict(BLOCK_P=64, BLOCK_K=64, BLOCK_C=64, num_warps=4, num_stages=3),
               dict(BLOCK_P=128, BLOCK_K=128, BLOCK_C=32, num_warps=8, num_stages=3)],
    "winograd": [dict(BLOCK_T=32, BLOCK_K=64, BLOCK_C=32, num_warps=4, num_stages=2),
                 dict(BLOCK_T=16, BLOCK_K=64, BLOCK_C=32, num_warps=4, num_stages=2),
                 dict(BLOCK_T=32, BLOCK_K=32, BLOCK_C=16, num_warps=4, num_stages=2)],
}
INTERPRETER_SPACE = {
    "direct": [dict(BLOCK_P=32, BLOCK_K=16, BLOCK_C=16)],
    "winograd": [dict(BLOCK_T=16, BLOCK_K=16, BLOCK_C=16)],
}


@dataclass(frozen=True)
class Candidate:
    algorithm: str
    m: int | None
    config: tl.Config

    def to_config(self) -> tl.Config:
        """The candidate as one Config for the tuning database (WINOGRAD_M marks Winograd)."""
        tiles = dict(self.config.tiles)
        if self.algorithm == "winograd":
            tiles["WINOGRAD_M"] = self.m
        return tl.Config(tiles, num_warps=self.config.num_warps, num_stages=self.config.num_stages)

    @staticmethod
    def from_config(cfg: tl.Config) -> "Candidate":
        tiles = dict(cfg.tiles)
        m = tiles.pop("WINOGRAD_M", None)
        inner = tl.Config(tiles, num_warps=cfg.num_warps, num_stages=cfg.num_stages)
        return Candidate("winograd" if m else "direct", m, inner)

    def label(self) -> str:
        what = f"winograd F({self.m},3)" if self.algorithm == "winograd" else "direct"
        return f"{what} {dict(self.config.tiles)}"


@dataclass
class Trial:
    candidate: Candidate
    status: str  # ok | wrong | error
    time_s: float | None = None
    error: float | None = None
    detail: str = ""


@dataclass
class ConvTuneResult:
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial | None:
        ok = [t for t in self.trials if t.status == "ok"]
        return min(ok, key=lambda t: t.time_s) if ok else None

    def table(self) -> str:
        rows = ["| candidate | status | time | rel. error |", "|---|---|---|---|"]
        for t in sorted(self.trials, key=lambda t: (t.status != "ok", t.time_s or 0.0)):
            ms = f"{t.time_s * 1e3:.3f} ms" if t.time_s is not None else "-"
            err = f"{t.error:.2e}" if t.error is not None else "-"
            rows.append(f"| {t.candidate.label()} | {t.status}{' ' + t.detail if t.detail else ''} | {ms} | {err} |")
        return "\n".join(rows)


def candidates(x, w, padding: int, stride: int, backend: str | None) -> list[Candidate]:
    from .conv import WINOGRAD_MS, winograd_applies

    if x.device.type == "cuda":
        space = GPU_SPACE
    elif backend not in (None, "cpu"):
        space = INTERPRETER_SPACE
    else:
        space = CPU_SPACE
    out = [Candidate("direct", None, tl.Config(**c)) for c in space["direct"]]
    if winograd_applies(w, padding, stride):
        out += [Candidate("winograd", m, tl.Config(**c)) for m in WINOGRAD_MS for c in space["winograd"]]
    return out


def problem_key(x, w, padding: int, stride: int) -> tuple[str, dict[str, int]]:
    """(database key, sizes) of a convolution: what the tuning database files a winner under."""
    dt = str(x.dtype).removeprefix("torch.")
    text = f"tilelang.stdlib.conv2d:v1:{dt}:{w.shape[2]}x{w.shape[3]}:stride{stride}:pad{padding}"
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    N, C, H, W = x.shape
    return key, {"N": N, "C": C, "H": H, "W": W, "K": w.shape[0]}


def _target(backend: str | None, x) -> str:
    if backend:
        return backend
    from tilelang import backend as backends

    return backends.default_for(x.device.type).name


def tune_conv2d(x, w, *, padding: int = 0, stride: int = 1, backend: str | None = None,
                space: list[Candidate] | None = None, reps: int = 5, store: bool = True,
                progress=None) -> ConvTuneResult:
    """Measure every candidate on (x, w); store the fastest accurate one in the tuning database."""
    import torch
    import torch.nn.functional as F

    from .conv import _check, _alloc, run, DEFAULT_OBJECTIVE

    Ho, Wo = _check(x, w, padding, stride)
    dt = str(x.dtype).removeprefix("torch.")
    ref = F.conv2d(x.detach().double().cpu(), w.detach().double().cpu(), padding=padding, stride=stride)
    scale = max(ref.abs().max().item(), 1e-30)
    result = ConvTuneResult()
    for cand in (space if space is not None else candidates(x, w, padding, stride, backend)):
        y = _alloc((x.shape[0], w.shape[0], Ho, Wo), x.dtype, x.device)

        def call():
            run(x, w, y, padding, stride, cand.algorithm, cand.m, DEFAULT_OBJECTIVE[dt], cand.config, backend)

        try:
            call()
        except Exception as e:  # a config that cannot compile or launch here is recorded, not fatal
            result.trials.append(Trial(cand, "error", detail=f"({type(e).__name__}: {str(e).splitlines()[0][:80]})"))
            continue
        err = ((y.detach().double().cpu() - ref).abs().max().item()) / scale
        if not err <= ACCURACY_LIMIT[dt]:  # NaN fails too
            result.trials.append(Trial(cand, "wrong", error=err))
            continue
        result.trials.append(Trial(cand, "ok", _median_time(call, x.device.type, reps), err))
        if progress is not None:
            progress(result.trials[-1])
    best = result.best
    if store and best is not None:
        from tilelang.autotune.db import TuningDB

        key, sizes = problem_key(x, w, padding, stride)
        db = TuningDB()
        target = _target(backend, x)
        for t in result.trials:
            db.record(key, target, sizes, t.candidate.to_config(), t.status, t.time_s, t.detail or "")
        db.set_best(key, target, sizes, best.candidate.to_config(), best.time_s, "stdlib.conv2d")
        _MEMO.clear()
    return result


def _median_time(fn, device: str, reps: int) -> float:
    if device == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=10, rep=50, return_mode="median") / 1e3
    times = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


_MEMO: dict = {}


def choose(x, w, padding: int, stride: int, backend: str | None, tune: bool):
    """(algorithm, m, config) for conv2d(algorithm="auto"): the database's winner, else (tune=True)
    a tuning run now, else Winograd F(4,3) where it applies and direct elsewhere, default tiles."""
    from tilelang.autotune.sweep import autotune_enabled

    from .conv import winograd_applies

    default = ("winograd" if winograd_applies(w, padding, stride) else "direct", None, None)
    if not autotune_enabled():
        return default
    key, sizes = problem_key(x, w, padding, stride)
    target = _target(backend, x)
    memo_key = (key, target, tuple(sorted(sizes.items())), x.device.type)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    from tilelang.autotune.db import TuningDB, default_path

    cfg = TuningDB().lookup(key, target, sizes) if (tune or default_path().exists()) else None
    if cfg is None and tune:
        best = tune_conv2d(x, w, padding=padding, stride=stride, backend=backend).best
        cfg = best.candidate.to_config() if best is not None else None
    if cfg is None:
        _MEMO[memo_key] = default
        return default
    c = Candidate.from_config(cfg)
    _MEMO[memo_key] = (c.algorithm, c.m, c.config)
    return _MEMO[memo_key]
