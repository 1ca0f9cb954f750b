"""The autotuner: the tuning database, search spaces, sweeps on the cpu backend, the CLI."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

import tilelang as tl
from tilelang.autotune import TuningDB, kernel_key, shape_class
from tilelang.autotune.db import device_fingerprint, versions
from tilelang.frontend.lower import ArgSpec
from tilelang.stdlib.gemm import matmul_kernel

SIG_F32 = {"a": ArgSpec("tensor", "f32", 2), "b": ArgSpec("tensor", "f32", 2),
           "c": ArgSpec("tensor", "f32", 2)}


# ---- the database -------------------------------------------------------------------------------

def test_kernel_key_is_stable_and_separates_signatures():
    k1 = kernel_key(matmul_kernel, SIG_F32)
    assert k1 == kernel_key(matmul_kernel, dict(SIG_F32))
    sig16 = {n: ArgSpec("tensor", "f16", 2) for n in "abc"}
    assert kernel_key(matmul_kernel, sig16) != k1

    @tl.tile
    def other(a, b, c):
        M, K = a.shape
        K, N = b.shape
        M, N = c.shape
        for m, n in tl.tile([M, N]):
            acc = tl.zeros([m, n], tl.float32)
            for k in tl.tile(K):
                acc += a[m, k] @ b[k, n]
            c[m, n] = (acc * 2).to(c.dtype)
    assert kernel_key(other, SIG_F32) != k1


def test_shape_class_buckets_by_power_of_two():
    assert shape_class({"M": 1000, "N": 1024}) == shape_class({"N": 1024, "M": 513})
    assert shape_class({"M": 1000}) != shape_class({"M": 1025})


def test_db_roundtrip_best_configs_and_export(tmp_path):
    db = TuningDB(tmp_path / "t.sqlite3")
    key = kernel_key(matmul_kernel, SIG_F32)
    cfg = tl.Config(BLOCK_M=32, BLOCK_N=64, BLOCK_K=128)
    sizes = {"M": 300, "N": 257, "K": 129}
    assert db.lookup(key, "cpu", sizes) is None
    db.record(key, "cpu", sizes, cfg, "ok", 1e-3)
    db.record(key, "cpu", sizes, tl.Config(BLOCK_M=16), "wrong", None, "max abs diff 3.0")
    db.set_best(key, "cpu", sizes, cfg, 1e-3, "matmul_kernel")
    assert db.lookup(key, "cpu", {"M": 511, "N": 300, "K": 200}) == cfg  # same class
    assert db.lookup(key, "cpu", {"M": 4096, "N": 300, "K": 200}) is None
    assert db.lookup(key, "triton", sizes) is None
    [(shapes, config, rec)] = db.best_configs(key, "cpu")
    assert shapes == sizes and config == cfg and rec["time_s"] == 1e-3
    assert rec["device"] == device_fingerprint("cpu") and rec["versions"] == versions()
    assert db.best_configs(key, "cpu", device="cuda:other") == []
    statuses = sorted(r["status"] for r in db.results(key, "cpu", sizes))
    assert statuses == ["ok", "wrong"]
    db.export_json(tmp_path / "db.json")
    data = json.loads((tmp_path / "db.json").read_text())
    assert len(data["results"]) == 2 and data["best"][0]["config"]["tiles"]["BLOCK_N"] == 64


def test_db_default_path_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "x" / "db.sqlite3"))
    assert TuningDB().path == tmp_path / "x" / "db.sqlite3"
    assert (tmp_path / "x" / "db.sqlite3").exists()


def _writer(path, worker, n):
    db = TuningDB(path)
    for i in range(n):
        db.record("k", "cpu", {"M": 64}, tl.Config(BLOCK_M=worker * 1000 + i + 1), "ok", float(i))


def test_db_several_processes_write_at_once(tmp_path):
    path = tmp_path / "t.sqlite3"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = TuningDB(path).results("k", "cpu", {"M": 64})
    assert len(rows) == 100
    assert len({json.dumps(r["config"]) for r in rows}) == 100


# ---- kernels the sweeps tune (module level, so worker processes can load them) --------------------

@tl.tile
def axpy(x, y, out):
    (N,) = x.shape
    (N,) = y.shape
    (N,) = out.shape
    for n in tl.tile(N):
        out[n] = x[n] * 2.0 + y[n]


@tl.tile(autotune=True, configs=[tl.Config(BLOCK_N=64), tl.Config(BLOCK_N=128), tl.Config(BLOCK_N=256)])
def axpy_tuned(x, y, out):
    (N,) = x.shape
    (N,) = y.shape
    (N,) = out.shape
    for n in tl.tile(N):
        out[n] = x[n] * 2.0 + y[n]


SIG_1D = {n: ArgSpec("tensor", "f32", 1) for n in ("x", "y", "out")}


def sizes_1d(n):
    return {"N": n}


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "tuning.sqlite3"))
    return TuningDB()


@pytest.fixture
def planted_bug():
    """A backend that is the cpu backend, except that a config with BLOCK_N=32 gives a wrong answer."""
    from tilelang import backend as backends
    from tilelang.backends.cpu import CpuBackend

    class WrongForBlock32(CpuBackend):
        name = "cpu-planted-bug"
        priority = -100
        default_on = ()

        def compile_with(self, kernel, key, config):
            launcher = super().compile_with(kernel, key, config)
            if config is None or config.get("BLOCK_N") != 32:
                return launcher

            def wrong(args, sizes, grid):
                launcher(args, sizes, grid)
                args["out"].view(-1)[7] += 1.0
            return wrong

    backends.register(WrongForBlock32())
    yield WrongForBlock32.name
    backends._REGISTRY.pop(WrongForBlock32.name, None)


# ---- search space and pruning ---------------------------------------------------------------------

def test_default_space_is_derived_from_the_kernel():
    from tilelang.autotune.space import default_space, prune, tile_params

    base = matmul_kernel.lower(SIG_F32)
    assert [(p.symbol, p.parallel) for p in tile_params(base)] == [("BLOCK_M", True), ("BLOCK_N", True),
                                                                   ("BLOCK_K", False)]
    cpu = default_space(base, "cpu", {"M": 1000, "N": 1000, "K": 1000})
    assert {c.get("BLOCK_M") for c in cpu} == {32, 64, 128} and {c.get("BLOCK_K") for c in cpu} == {128, 256}
    assert {c.microkernel for c in cpu} >= {""} and len({c.microkernel for c in cpu}) == 2
    small = default_space(base, "cpu", {"M": 20, "N": 20, "K": 20})
    assert {c.get("BLOCK_M") for c in small} == {32} and {c.get("BLOCK_K") for c in small} == {32}
    gpu = default_space(base, "triton", {"M": 4096, "N": 4096, "K": 4096}, "sm_90")
    assert {c.num_warps for c in gpu} == {4, 8} and {c.num_stages for c in gpu} == {3, 4}
    assert {c.group_m for c in gpu} == {0, 8}
    kept, dropped = prune(base, gpu, "triton", "sm_90")
    assert kept and dropped and all("shared memory" in why or "registers" in why for _, why in dropped)
    big = tl.Config(BLOCK_M=256, BLOCK_N=256, BLOCK_K=64, num_warps=4, num_stages=4)
    assert big in [c for c, _ in dropped]
    # 1-D grid: no program-order group size to tune
    assert {c.group_m for c in default_space(axpy.lower(SIG_1D), "triton", {"N": 10 ** 6}, "sm_90")} == {0}


def test_cpu_space_tries_thread_counts_on_bigger_hosts(monkeypatch):
    from tilelang.autotune import space

    base = matmul_kernel.lower(SIG_F32)
    monkeypatch.setattr(space, "_cores", lambda: 8)
    assert {c.num_threads for c in space.default_space(base, "cpu", {"M": 512, "N": 512, "K": 512})} == {0, 4}
    monkeypatch.setattr(space, "_cores", lambda: 2)
    assert {c.num_threads for c in space.default_space(base, "cpu", {"M": 512, "N": 512, "K": 512})} == {0}


def test_cpu_pruning_checks_registers_and_stack():
    from tilelang.autotune.hardware import host_isa
    from tilelang.autotune.space import prune_reason

    base = matmul_kernel.lower(SIG_F32)
    regs = host_isa().registers
    assert "vector registers" in prune_reason(base, tl.Config(microkernel=f"{regs}x4"), "cpu")
    assert prune_reason(base, tl.Config(BLOCK_M=64, BLOCK_N=64, BLOCK_K=128), "cpu") is None
    assert "stack" in prune_reason(base, tl.Config(BLOCK_M=1024, BLOCK_N=1024, BLOCK_K=128), "cpu")


def test_microkernel_fits_each_isa():
    from tilelang.autotune.hardware import VectorISA, microkernel_shape

    avx512 = VectorISA("avx512", 16, 32, "", "")
    avx2 = VectorISA("avx2", 8, 16, "", "")
    assert microkernel_shape(64, 64, avx512) == (6, 4)
    assert microkernel_shape(64, 64, avx2) == (6, 2)
    for isa in (avx512, avx2):
        for bn in (16, 32, 48, 64, 128):
            mr, nv = microkernel_shape(64, bn, isa)
            assert mr * nv + nv + 1 <= isa.registers and (bn // isa.lanes_f32) % nv == 0


def test_gpu_defaults_fit_the_architecture(monkeypatch):
    from tilelang.autotune import hook
    from tilelang.autotune.hardware import default_config_values

    d = default_config_values("triton", "sm_90")
    assert d["num_warps"] == 8 and d["num_stages"] in (3, 4) and d["parallel"] >= 128
    assert default_config_values("triton", "sm_80")["num_stages"] >= 3
    # the config a call gets on an sm_90 device (no GPU needed to build it)
    monkeypatch.setattr(hook, "device_arch", lambda device: "sm_90")
    sig16 = {n: ArgSpec("tensor", "f16", 2) for n in "abc"}
    big = hook.hardware_default(matmul_kernel.lower(sig16), "triton", "cuda", {"M": 4096, "N": 4096, "K": 4096})
    assert big == tl.Config(BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, num_warps=8, num_stages=3, group_m=8)
    small = hook.hardware_default(matmul_kernel.lower(sig16), "triton", "cuda", {"M": 40, "N": 40, "K": 40})
    assert small.tiles == (("BLOCK_K", 64), ("BLOCK_M", 64), ("BLOCK_N", 64))
    assert hook.hardware_default(axpy.lower(SIG_1D), "triton", "cuda", {"N": 10}) is None  # no `@`
    # cpu: GEMM-like kernels get large tiles capped at the extents; others keep the backend's
    cpu = hook.hardware_default(matmul_kernel.lower(SIG_F32), "cpu", "cpu", {"M": 1000, "N": 50, "K": 3000})
    assert dict(cpu.tiles) == {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 256}


# ---- sweeps on the cpu backend ------------------------------------------------------------------

def _axpy_args(n=1000):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(n)
    return torch.randn(n, generator=g), torch.randn(n, generator=g), torch.empty(n)


def test_sweep_drops_a_config_that_gives_another_answer(db, planted_bug):
    from conftest import assert_close, poisoned
    from tilelang.autotune.sweep import tune

    x, y, _ = _axpy_args(1000)
    out = poisoned((1000,), x.dtype)
    configs = [tl.Config(BLOCK_N=64), tl.Config(BLOCK_N=32), tl.Config(BLOCK_N=128)]
    r = tune(axpy, x, y, out, configs=configs, backend=planted_bug, workers=1, progress=False)
    status = {t.config.get("BLOCK_N"): t.status for t in r.trials}
    assert status == {64: "ok", 32: "wrong", 128: "ok"}
    assert [t.config.get("BLOCK_N") for t in r.dropped] == [32] and "differ" in r.dropped[0].detail
    assert r.best.get("BLOCK_N") in (64, 128)
    assert "gave a different answer" in r.table()
    stored = {json.dumps(row["config"]["tiles"]): row["status"] for row in db.results(r.key, planted_bug, sizes_1d(1000))}
    assert stored.get('{"BLOCK_N": 32}') == "wrong"
    # the winner, used by a later call with no config, computes the right answer
    assert db.lookup(r.key, planted_bug, sizes_1d(1000)) == r.best
    o = poisoned((1000,), out.dtype)
    axpy(x, y, o, backend=planted_bug)
    assert_close(o, x.double() * 2 + y.double(), "f32")
    assert out.isnan().all()  # the sweep ran on copies: the caller's tensor is untouched


def test_sweep_resumes_after_an_interrupt(db, monkeypatch):
    from tilelang.autotune import sweep

    x, y, out = _axpy_args(777)
    configs = [tl.Config(BLOCK_N=b) for b in (16, 32, 64, 128)]
    real = sweep.measure_one
    calls = []

    def interrupted(*a, **k):
        calls.append(a[2])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(sweep, "measure_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep.tune(axpy, x, y, out, configs=configs, workers=1, progress=False)
    key = kernel_key(axpy, SIG_1D)
    assert len(db.results(key, "cpu", sizes_1d(777))) == 2  # each result was stored as it finished
    assert db.lookup(key, "cpu", sizes_1d(777)) is None
    calls.clear()
    monkeypatch.setattr(sweep, "measure_one", lambda *a, **k: (calls.append(a[2]), real(*a, **k))[1])
    r = sweep.tune(axpy, x, y, out, configs=configs, workers=1, progress=False)
    assert [c.get("BLOCK_N") for c in calls] == [64, 128]  # only what the interrupted sweep had not measured
    assert sum(t.resumed for t in r.trials) == 2 and len(r.ok) == 4
    assert db.lookup(key, "cpu", sizes_1d(777)) == r.best


def test_autotune_decorator_sweeps_once_and_env_turns_it_off(db, monkeypatch):
    from conftest import assert_close, poisoned
    from tilelang.autotune import sweep

    calls = []
    real = sweep.measure_one
    monkeypatch.setattr(sweep, "measure_one", lambda *a, **k: (calls.append(a[2]), real(*a, **k))[1])
    x, y, _ = _axpy_args(3001)
    monkeypatch.setenv("TILELANG_AUTOTUNE", "0")
    o = poisoned((3001,), x.dtype)
    axpy_tuned(x, y, o)
    assert calls == [] and db.export()["best"] == []  # off: no sweep, nothing stored
    assert_close(o, x.double() * 2 + y.double(), "f32")
    monkeypatch.delenv("TILELANG_AUTOTUNE")
    o = poisoned((3001,), x.dtype)
    axpy_tuned(x, y, o)
    assert len(calls) == 3  # the first call of this shape class sweeps the kernel's configs
    assert_close(o, x.double() * 2 + y.double(), "f32")
    [(shapes, config, rec)] = db.best_configs(kernel_key(axpy_tuned, SIG_1D), "cpu")
    assert shapes == sizes_1d(3001) and config in axpy_tuned.configs and rec["kernel_name"] == "axpy_tuned"
    o = poisoned((3001,), x.dtype)
    axpy_tuned(x, y, o)
    assert len(calls) == 3  # a repeat call uses the stored winner
    assert_close(o, x.double() * 2 + y.double(), "f32")


def test_hook_memo_is_per_shape_class_and_a_sweep_drops_it(db, monkeypatch):
    """Once something is tuned, the hook answers per shape class (each dimension rounded up to a
    power of two, as the database keys shapes): a call in a class already seen costs no database
    lookup and reuses the Runner; a new class asks again; a sweep's new winner reaches later calls."""
    from conftest import assert_close, poisoned
    from tilelang.autotune import hook, sweep

    choices = []
    real = hook._choose
    monkeypatch.setattr(hook, "_choose", lambda *a: (choices.append(a[1][0].shape[0]), real(*a))[1])
    def call(n):
        x, y, _ = _axpy_args(n)
        o = poisoned((n,), x.dtype)
        axpy_tuned(x, y, o, backend="cpu")
        assert_close(o, x.double() * 2 + y.double(), "f32")

    for n in (3001, 2500, 4096):
        call(n)
    assert choices == [3001]  # one class (4096): one choice (here a sweep), one memoized Runner
    assert len([k for k in axpy_tuned._compiled if k[0] == "auto"]) == 1
    call(4097)
    assert choices == [3001, 4097]  # class 8192
    x, y, _ = _axpy_args(3001)
    sweep.tune(axpy_tuned, x, y, torch_empty_like(x), configs=[tl.Config(BLOCK_N=32)], workers=1, progress=False)
    assert not any(k[0] == "auto" for k in axpy_tuned._compiled)  # the new winner is looked up again
    o = poisoned((3001,), x.dtype)
    axpy_tuned(x, y, o, backend="cpu")
    assert_close(o, x.double() * 2 + y.double(), "f32")
    assert choices[-1] == 3001 and len(choices) == 3


def torch_empty_like(x):
    return x.new_empty(x.shape)


def test_parallel_precompile_in_worker_processes(db):
    from tilelang.autotune.sweep import tune
    from tilelang.backends.cpu import STATS

    x, y, out = _axpy_args(515)
    configs = [tl.Config(BLOCK_N=b) for b in (8, 512)]  # sizes no other test compiles
    before = STATS["disk_hits"]
    r = tune(axpy, x, y, out, configs=configs, workers=2, progress=False)
    assert len(r.ok) == 2
    assert STATS["disk_hits"] - before == 2  # the workers compiled both; this process only loaded them


def test_cli_tune_writes_table_json_png_and_stores_the_winner(db, tmp_path, capsys):
    from tilelang.cli import main

    out = tmp_path / "out"
    cfgs = ['{"tiles": {"BLOCK_N": 64}}', '{"tiles": {"BLOCK_N": 128}}']
    rc = main(["tune", f"{__file__}::axpy", "--shape", "N=999", "--dtype", "f32", "--workers", "1",
               "--flops", "2*N", "-o", str(out)] + sum((["--config", c] for c in cfgs), []))
    assert rc == 0
    text = capsys.readouterr().out
    assert "rank" in text and "winner:" in text and "TFLOP/s" in text
    data = json.loads((out / "tune.json").read_text())
    assert data["sizes"] == sizes_1d(999) and len(data["trials"]) == 2 and data["best"] is not None
    assert data["trials"][0]["time_s"] <= data["trials"][1]["time_s"]
    assert (out / "tune.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert db.lookup(data["kernel_key"], "cpu", sizes_1d(999)) == tl.Config.from_dict(data["best"])
    assert main(["tune", "--export-db", str(tmp_path / "db.json")]) == 0
    assert json.loads((tmp_path / "db.json").read_text())["best"]
    assert main(["tune", f"{__file__}::axpy", "--dtype", "f32", "-o", str(out)]) == 1  # no --shape N
    assert "--shape N=" in capsys.readouterr().err


@pytest.mark.slow
def test_ray_executor_tunes_on_a_local_ray_instance(db):
    ray = pytest.importorskip("ray")
    from tilelang.autotune.sweep import tune

    x, y, out = _axpy_args(1234)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        r = tune(axpy, x, y, out, configs=[tl.Config(BLOCK_N=b) for b in (64, 128, 256)], executor="ray",
                 progress=False)
    finally:
        ray.shutdown()
    assert len(r.ok) == 3, r.table()
    assert db.lookup(r.key, "cpu", sizes_1d(1234)) == r.best
    assert len(db.results(r.key, "cpu", sizes_1d(1234))) == 3


def test_config_json_roundtrip_of_tuning_fields():
    c = tl.Config(BLOCK_M=64, num_warps=8, group_m=8, microkernel="6x4", num_threads=2)
    assert tl.Config.from_dict(json.loads(c.to_json())) == c
    assert "group_m" not in tl.Config(BLOCK_M=64).to_dict()  # unset fields keep older JSON unchanged
    for bad in (dict(group_m=-1), dict(microkernel="6"), dict(num_threads=1.5)):
        with pytest.raises(ValueError):
            tl.Config(**bad)


def test_avx2_variant_compiles_without_avx512_and_is_correct(monkeypatch, tmp_path):
    import torch

    from conftest import assert_close, poisoned
    from tilelang.autotune.hardware import host_isa

    if host_isa().name not in ("avx512", "avx2"):
        pytest.skip("host has no AVX2")
    monkeypatch.setenv("TILELANG_CPU_ISA", "avx2")
    monkeypatch.setenv("TILELANG_DUMP_LLVM", str(tmp_path))

    @tl.tile
    def mm(a, b, c):
        M, K = a.shape
        K, N = b.shape
        M, N = c.shape
        for m, n in tl.tile([M, N]):
            acc = tl.zeros([m, n], tl.float32)
            for k in tl.tile(K):
                acc += a[m, k] @ b[k, n]
            c[m, n] = acc

    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(133, 70, generator=g), torch.randn(70, 91, generator=g)
    c = poisoned((133, 91), torch.float32)
    mm(a, b, c, config=tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32))
    assert_close(c, a.double() @ b.double(), "f32", 70)
    asm = "".join(p.read_text() for p in tmp_path.glob("*.s"))
    assert "ymm" in asm and "zmm" not in asm
