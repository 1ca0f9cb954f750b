"""A tuning sweep: compile configs in parallel, run each on copies of the caller's arguments, check
its output against the first config's, time it, store each result as it finishes.

    from tilelang.autotune import tune
    result = tune(matmul_kernel, a, b, c)                 # the default space for the kernel
    result = tune(kernel, x, y, configs=[tl.Config(BLOCK_N=64), tl.Config(BLOCK_N=128)], budget=60)
    print(result.table()); result.best                    # the winner, also stored in the database

A config whose output differs from the first config's (beyond the dtype's rounding) is recorded
as "wrong", reported, and never chosen; one that fails to compile or launch as "error". Outputs
(tensors the kernel stores to and never loads) are poisoned with NaN before each run, so a config
that skips elements shows up. Timing: on CUDA, `triton.testing.do_bench` (device events, L2
flushed, median); on CPU, the median of repeated runs with the last-level cache flushed before each.
A sweep that is interrupted keeps what it measured: run it again and it resumes (`resume=False`
measures everything again).
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

from tilelang.config import Config
from tilelang.errors import TileLangError
from tilelang.ir import nodes as ir

from .db import TuningDB, device_fingerprint, kernel_key
from .progress import Progress

# Relative tolerance of a config's output against the first config's: reordered f32/f16
# accumulation (other tile sizes) changes the rounding, not the answer.
AGREE_RTOL = {"f64": 1e-9, "f32": 1e-4, "f16": 1e-2, "bf16": 5e-2}


@dataclass
class Trial:
    config: Config
    status: str  # ok | wrong | error | pruned | skipped (budget spent)
    time_s: float | None = None
    detail: str = ""
    resumed: bool = False  # measured by an earlier, interrupted sweep and read back from the database


@dataclass
class TuneResult:
    kernel: str
    key: str
    target: str
    device: str
    sizes: dict[str, int]
    trials: list[Trial] = field(default_factory=list)
    flops: float | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> list[Trial]:
        return sorted((t for t in self.trials if t.status == "ok"), key=lambda t: t.time_s)

    @property
    def best(self) -> Config | None:
        ok = self.ok
        return ok[0].config if ok else None

    @property
    def best_time(self) -> float | None:
        ok = self.ok
        return ok[0].time_s if ok else None

    @property
    def dropped(self) -> list[Trial]:
        """Configs that gave a different answer from the first config's."""
        return [t for t in self.trials if t.status == "wrong"]

    def table(self) -> str:
        from .report import format_table

        return format_table(self)

    def to_json(self) -> dict:
        from .report import result_json

        return result_json(self)


# Every call without config= asks autotune_enabled(), and os.environ.get costs about a microsecond
# (it encodes the key and decodes the value). On POSIX, os.environ keeps its raw bytes in a dict that
# every change through os.environ updates; reading that dict, with the answer memoized per raw
# value, costs a dict lookup and sees every change at once.
_RAW_ENVIRON = getattr(os.environ, "_data", None) if os.name == "posix" else None
_enabled_for_raw: dict = {}


def autotune_enabled() -> bool:
    """False when TILELANG_AUTOTUNE=0 (no sweeps, no database lookups: the defaults only)."""
    if type(_RAW_ENVIRON) is not dict:
        return _parse_enabled(os.environ.get("TILELANG_AUTOTUNE"))
    raw = _RAW_ENVIRON.get(b"TILELANG_AUTOTUNE")
    hit = _enabled_for_raw.get(raw)
    if hit is None:
        hit = _enabled_for_raw[raw] = _parse_enabled(None if raw is None else os.fsdecode(raw))
    return hit


def _parse_enabled(value: str | None) -> bool:
    return (value or "1").strip().lower() not in ("0", "false", "no", "off")


def device_arch(device: str) -> str | None:
    if device != "cuda":
        return None
    import torch

    if torch.version.hip:
        return torch.cuda.get_device_properties(0).gcnArchName.split(":")[0]
    major, minor = torch.cuda.get_device_capability()
    return f"sm_{major}{minor}"


# ---- running one config -------------------------------------------------------------------------

def written_only(ir_kernel: ir.Kernel) -> set[str]:
    """Tensors the kernel stores to and never loads: pure outputs, safe to poison before a run."""
    stored = {s.tensor for s in ir.walk(ir_kernel.body) if isinstance(s, ir.Store)}
    loaded = set()
    for s in ir.walk(ir_kernel.body):
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Load):
            loaded.add(s.value.tensor)
        if isinstance(s, ir.Store) and s.atomic:
            loaded.add(s.tensor)  # an atomic store reads the old value
    return stored - loaded


def fresh_args(args, poison: set[str], names: list[str]):
    """Copies of the arguments, outputs poisoned with NaN (floats) or a sentinel (ints)."""
    import torch

    out = []
    for name, a in zip(names, args):
        if isinstance(a, torch.Tensor):
            a = a.clone()
            if name in poison:
                a.fill_(float("nan") if a.dtype.is_floating_point else -12345)
        out.append(a)
    return out


def compare(outputs, reference, names: list[str]) -> str:
    """'' when every tensor agrees with the reference run's, else what differs."""
    import torch

    for name, x, r in zip(names, outputs, reference):
        if not isinstance(x, torch.Tensor):
            continue
        from tilelang.ir import dtypes

        rtol = AGREE_RTOL.get(dtypes.from_torch(x.dtype) or "", 0.0)
        xd, rd = x.detach().cpu().double(), r.detach().cpu().double()
        nan_x, nan_r = torch.isnan(xd), torch.isnan(rd)
        if not torch.equal(nan_x, nan_r):
            return f"`{name}`: {int((nan_x != nan_r).sum())} element(s) NaN in one run and not the other"
        finite = ~nan_x
        scale = max(1.0, float(rd[finite].abs().max())) if finite.any() else 1.0
        err = (xd[finite] - rd[finite]).abs()
        bad = err > rtol * scale + rtol * rd[finite].abs()
        if bad.any():
            return f"`{name}`: {int(bad.sum())} element(s) differ, max abs diff {float(err.max()):.4g}"
    return ""


def time_call(fn, device: str, min_time: float = 0.05, max_reps: int = 25) -> float:
    """Median seconds per call."""
    if device == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=100, return_mode="median") / 1e3
    import torch

    flush = torch.empty(8 * 1024 * 1024, dtype=torch.float32)  # 32 MiB: more than a last-level cache
    fn()  # warm-up
    times: list[float] = []
    while len(times) < 3 or (sum(times) < min_time and len(times) < max_reps):
        flush.zero_()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_one(kernel, args, config: Config, backend: str, reference, poison: set[str], device: str) -> dict:
    """Run one config on copies of `args`; {"status", "time_s", "detail", "outputs"}."""
    names = kernel.param_names
    try:
        run_args = fresh_args(args, poison, names)
        kernel(*run_args, config=config, backend=backend)
        if device == "cuda":
            import torch

            torch.cuda.synchronize()
    except TileLangError as e:
        return {"status": "error", "time_s": None, "detail": str(e).splitlines()[0], "outputs": None}
    if reference is not None:
        diff = compare(run_args, reference, names)
        if diff:
            return {"status": "wrong", "time_s": None, "detail": diff, "outputs": None}
    timed_args = fresh_args(args, set(), names)
    t = time_call(lambda: kernel(*timed_args, config=config, backend=backend), device)
    return {"status": "ok", "time_s": t, "detail": "", "outputs": run_args}


# ---- the sweep ----------------------------------------------------------------------------------

def tune(kernel, *args, configs: list[Config] | None = None, backend: str | None = None,
         budget: float | None = None, workers: int | None = None, executor: str = "local",
         db: TuningDB | None = None, progress: bool | str = True, resume: bool = True,
         flops: float | None = None, store: bool = True) -> TuneResult:
    """Tune `kernel` on these arguments (they are copied, never written). Returns the TuneResult;
    with `store`, every result and the winner go to the tuning database."""
    from tilelang import backend as backends
    from tilelang.runtime.launch import bind_arguments, bind_sizes

    from .space import default_space, prune

    t_start = time.monotonic()
    bound, signature, device = bind_arguments(kernel, args)
    be = backends.get(backend) if backend else backends.default_for(device)
    arch = device_arch(device)
    base = kernel.lower(signature)
    sizes = bind_sizes(kernel, base, bound)
    key = kernel_key(kernel, signature)
    fingerprint = device_fingerprint("cuda" if device == "cuda" else "cpu")
    result = TuneResult(kernel.name, key, be.name, fingerprint, sizes, flops=flops)
    if store and db is None:
        db = TuningDB()
    candidates = list(configs or getattr(kernel, "configs", None) or default_space(base, be.name, sizes, arch))
    if not candidates:
        raise TileLangError(f"nothing to tune for kernel `{kernel.name}`: empty config list", kernel.loc)
    candidates = list(dict.fromkeys(candidates))
    kept, dropped = prune(base, candidates, be.name, arch)
    for c, why in dropped:
        result.trials.append(Trial(c, "pruned", detail=why))
        if store:
            db.record(key, be.name, sizes, c, "pruned", None, why, fingerprint)
    if not kept:
        raise TileLangError(f"every config for kernel `{kernel.name}` was pruned (first: {dropped[0][1]})", kernel.loc)

    earlier = {}
    if store and resume:
        for row in db.results(key, be.name, sizes, fingerprint):
            if row["shapes"] == dict(sorted(sizes.items())) and row["status"] in ("ok", "wrong", "error"):
                earlier[Config.from_dict(row["config"])] = row
    todo = [c for c in kept if c not in earlier]
    for c in kept:
        if c in earlier:
            row = earlier[c]
            result.trials.append(Trial(c, row["status"], row["time_s"], row["detail"], resumed=True))

    if todo and executor == "local" and (workers or 0) != 1:
        from .executors import precompile_local

        precompile_local(kernel, signature, be.name, todo, workers)

    poison = written_only(base)
    bar = Progress(len(todo), f"tune {kernel.name} [{be.name}]", progress)
    try:
        if executor == "ray":
            from .executors import measure_ray

            reference, _ = _reference_run(kernel, args, todo, be.name, poison, device)
            measured = measure_ray(kernel, args, todo, be.name, reference, poison, device)
        elif executor == "local":
            measured = _measure_local(kernel, args, todo, be.name, poison, device)
        else:
            raise TileLangError(f"unknown executor {executor!r}: use 'local' or 'ray'")
        for c, m in measured:
            trial = Trial(c, m["status"], m["time_s"], m["detail"])
            result.trials.append(trial)
            if store:
                db.record(key, be.name, sizes, c, trial.status, trial.time_s, trial.detail, fingerprint)
            bt = result.best_time
            bar.update(f"{bt * 1e3:.3f} ms" if bt is not None else "-", f"{c}: {trial.status}")
            if budget is not None and time.monotonic() - t_start > budget:
                done = {t.config for t in result.trials}
                result.trials += [Trial(c2, "skipped", detail=f"budget of {budget:g} s spent")
                                  for c2 in todo if c2 not in done]
                break
    finally:
        bar.close()
        _close(locals().get("measured"))
    result.elapsed_s = time.monotonic() - t_start
    if store and result.best is not None:
        db.set_best(key, be.name, sizes, result.best, result.best_time, kernel.name, fingerprint)
        from .hook import forget_tuned_choices

        forget_tuned_choices(kernel)  # later calls look the new winner up
    return result


def _close(gen):
    if gen is not None and hasattr(gen, "close"):
        gen.close()


def _reference_run(kernel, args, todo, backend, poison, device):
    """The first config that runs: its outputs are what every other config must reproduce."""
    for c in todo:
        try:
            run_args = fresh_args(args, poison, kernel.param_names)
            kernel(*run_args, config=c, backend=backend)
            return run_args, c
        except TileLangError:
            continue
    return None, None


def _measure_local(kernel, args, todo, backend, poison, device):
    """Yield (config, measurement) in order; the first config that runs is the reference."""
    reference = None
    for c in todo:
        m = measure_one(kernel, args, c, backend, reference, poison, device)
        if reference is None and m["status"] == "ok":
            reference = m["outputs"]
        yield c, m

