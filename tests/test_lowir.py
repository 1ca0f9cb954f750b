"""The explicit-memory level: text round trip, verifier, and every test/stdlib kernel run through
the memory-level interpreter (thread-level semantics with race reports) against float64 torch."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.backends.cuda.emu import run_emulated
from tilelang.backends.cuda.sim import run_simulated
from tilelang.backends.reference.meminterp import RaceError, run_memory
from tilelang.errors import VerifierError
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir
from tilelang.memir import nodes as M
from tilelang.memir.parser import parse_memkernel
from tilelang.memir.printer import print_memkernel
from tilelang.memir.verifier import verify_memkernel
from tilelang.passes import PassContext, run_pipeline
from tilelang.passes.lower_memory import lower_to_memory
from tilelang.stdlib import matmul_kernel

import kernels as K
from conftest import assert_close, poisoned
from test_cpu_backend import TOL, binary_kernel, float_unary_kernel, int_kernel, reduce_kernel, shape_ops_kernel
from test_ir_text import signatures


def lowered(kernel, sig, threads=128, config=None):
    k = run_pipeline(kernel.lower(sig, None), PassContext(config=config or tl.Config(), pow2_tiles=True))
    return lower_to_memory(k, threads=threads)


@pytest.mark.parametrize("kernel,sig", signatures(), ids=lambda v: getattr(v, "name", ""))
def test_round_trip_and_verify(kernel, sig):
    mk = lowered(kernel, sig)
    text = print_memkernel(mk)
    back = parse_memkernel(text)
    assert back == mk, text
    assert print_memkernel(back) == text
    assert [getattr(s, "loc", None) for s in M.walk(back.body)] == [getattr(s, "loc", None) for s in M.walk(mk.body)]
    verify_memkernel(back)


def test_gemm_operands_are_shared_and_accumulator_is_in_registers():
    mk = lowered(matmul_kernel, signatures()[0][1])
    spaces = {b.name: b.space for b in mk.buffers}
    assert spaces["acc"] == "local"
    dot = next(s for s in M.walk(mk.body) if isinstance(s, M.Compute) and getattr(s.value, "name", "") == "dot")
    assert all(spaces[a.name] == "shared" for a in dot.value.args)
    assert any(isinstance(s, M.Barrier) for s in M.walk(mk.body))


def test_verifier_rejects_a_register_read_across_threads():
    mk = lowered(matmul_kernel, signatures()[0][1])
    wrong = dataclasses.replace(mk, buffers=tuple(dataclasses.replace(b, space="local") for b in mk.buffers))
    with pytest.raises(VerifierError, match="register buffer"):
        verify_memkernel(wrong)


def test_verifier_rejects_a_wrong_result_type():
    text = print_memkernel(lowered(K.add_kernel, {n: tl.frontend.lower.ArgSpec("tensor", "f32", 1)
                                                  for n in ("x", "y", "out")}))
    bad = text.replace("local %3: f32[", "local %3: f16[", 1)
    assert bad != text
    with pytest.raises(VerifierError, match="%3 is f16"):
        verify_memkernel(parse_memkernel(bad))


# ---- planted mistakes are caught by the interpreter -------------------------------------------------

def _drop_barriers(stmts, keep_every=False):
    out = []
    for s in stmts:
        if isinstance(s, M.Barrier):
            continue
        if isinstance(s, ir.TileLoop):
            s = ir.TileLoop(s.tiles, tuple(_drop_barriers(s.body)), s.parallel, s.loc)
        out.append(s)
    return out


def _gemm_inputs():
    torch.manual_seed(0)
    a, b = torch.randn(20, 24), torch.randn(24, 18)
    return {"a": a.numpy(), "b": b.numpy(), "c": poisoned((20, 18), torch.float32).numpy()}, \
        {"M": 20, "K": 24, "N": 18}, a.double() @ b.double()


def test_memory_interpreter_runs_the_lowered_gemm():
    mk = lowered(K.gemm_divisible, signatures()[1][1], config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=8))
    arrays, sizes, expected = _gemm_inputs()
    arrays["a"], arrays["b"] = arrays["a"][:16, :16].copy(), arrays["b"][:16, :16].copy()
    arrays["c"] = arrays["c"][:16, :16].copy()
    run_memory(mk, arrays, {"M": 16, "K": 16, "N": 16})
    assert_close(torch.from_numpy(arrays["c"]), torch.from_numpy(arrays["a"]).double() @ torch.from_numpy(arrays["b"]).double(),
                 "f32", 16)


def test_a_missing_barrier_is_reported_as_a_race():
    mk = lowered(matmul_kernel, {n: tl.frontend.lower.ArgSpec("tensor", "f32", 2) for n in "abc"},
                 config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=8))
    planted = dataclasses.replace(mk, body=tuple(_drop_barriers(mk.body)))
    arrays, sizes, expected = _gemm_inputs()
    run_memory(mk, dict(arrays, c=arrays["c"].copy()), sizes)  # the real one runs clean
    with pytest.raises(RaceError, match="race on shared buffer"):
        run_memory(planted, arrays, sizes)


def test_a_register_buffer_read_by_another_thread_is_reported():
    mk = lowered(matmul_kernel, {n: tl.frontend.lower.ArgSpec("tensor", "f32", 2) for n in "abc"},
                 config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=8))
    planted = dataclasses.replace(mk, buffers=tuple(dataclasses.replace(b, space="local") for b in mk.buffers))
    arrays, sizes, _ = _gemm_inputs()
    with pytest.raises(RaceError, match="register buffer"):
        run_memory(planted, arrays, sizes)


# ---- every kernel, through the memory level, against float64 torch -----------------------------------
# `run` is the memory-level interpreter, or the CUDA backend's generated C++ compiled by g++ against
# a CUDA emulation (backends/cuda/emu.py: one OS thread per CUDA thread, real barriers).

# The HIP backend's program (wave64 blocks, MFMA fragment maps) runs through the same checks:
# "hip-memir" in the interpreter, "hip-emu" as rendered HIP source under the emulation.
@pytest.fixture(scope="module", params=["memir", pytest.param("cuda-emu", marks=pytest.mark.slow),
                                        "hip-memir",
                                        pytest.param("hip-emu", marks=pytest.mark.slow)])
def run(request):
    from tilelang.backends.hip.emu import run_hip_emulated
    from tilelang.backends.hip.sim import run_hip_simulated

    return {"memir": run_simulated, "cuda-emu": run_emulated, "hip-memir": run_hip_simulated,
            "hip-emu": run_hip_emulated}[request.param]


def _softmax(x):
    return torch.softmax(x.double(), dim=1)


def test_sim_add(run):
    x, y = torch.randn(37), torch.randn(37)
    out = poisoned((37,), torch.float32)
    run(K.add_kernel, x, y, out)
    assert_close(out, x.double() + y.double(), "f32")


@settings(max_examples=3)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(["f32", "f16"]))
def test_sim_matmul(run, M, N, dtype):
    dt = {"f32": torch.float32, "f16": torch.float16}[dtype]
    Kd = 21
    a, b = torch.randn(M, Kd).to(dt), torch.randn(Kd, N).to(dt)
    c = poisoned((M, N), dt)
    run(matmul_kernel, a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=8))
    assert_close(c, a.double() @ b.double(), dtype, Kd)


def test_sim_gemm_divisible(run):
    a, b = torch.randn(32, 48), torch.randn(48, 16)
    c = poisoned((32, 16), torch.float32)
    run(K.gemm_divisible, a, b, c)
    assert_close(c, a.double() @ b.double(), "f32", 48)


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_sim_softmax(run, dtype):
    dt = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]
    x = (torch.randn(19, 45) * 3).to(dt)
    out = poisoned((19, 45), dt)
    run(K.softmax_kernel, x, out)
    assert_close(out, _softmax(x), dtype, 45)


def test_sim_elementwise(run):
    x, y = torch.randn(13, 21), torch.randn(13, 21)
    of, ob = poisoned((13, 21), torch.float32), torch.zeros(13, 21, dtype=torch.bool)
    run(K.elementwise_kernel, x, y, of, ob, 0.75)
    a, b = x.double(), y.double()
    r = torch.where(a > b, a.abs().sqrt() * 0.75, torch.exp(-b * b) - 1.5)
    r = torch.maximum(r, torch.minimum(a, b)) + torch.sigmoid(a) * torch.log(1.0 + b * b)
    assert_close(of, r, "f32")
    assert torch.equal(ob, (x < 0) | (y >= 1))


def test_sim_row_reduce(run):
    x = torch.randn(23, 50)
    sums, maxes = poisoned((23,), torch.float32), poisoned((23,), torch.float32)
    argmins = poisoned((23,), torch.int32)
    run(K.row_reduce_kernel, x, sums, maxes, argmins)
    assert_close(sums, x.double().sum(1), "f32", 50)
    assert_close(maxes, x.double().max(1).values, "f32")
    assert torch.equal(argmins.long(), x.argmin(1))


def test_sim_causal_mask_and_int_math(run):
    s = torch.randn(19, 23)
    out = poisoned((19, 23), torch.float32)
    run(K.causal_mask_kernel, s, out)
    i, j = torch.arange(19)[:, None], torch.arange(23)[None, :]
    assert_close(out, torch.where(i >= j, s.double(), 0.0), "f32")
    x = torch.randint(-50, 50, (29,), dtype=torch.int32)
    y = torch.randint(1, 7, (29,), dtype=torch.int32) * (torch.randint(0, 2, (29,), dtype=torch.int32) * 2 - 1)
    q, r = poisoned((29,), torch.int32), poisoned((29,), torch.int32)
    run(K.int_math_kernel, x, y, q, r)
    assert torch.equal(q, torch.div(x, y, rounding_mode="floor"))
    assert torch.equal(r, x - torch.div(x, y, rounding_mode="floor") * y)


def test_sim_gather_and_scatter(run):
    x = torch.randn(11, 9)
    idx = torch.randint(0, 11, (17,), dtype=torch.int32)
    out = poisoned((17, 9), torch.float32)
    run(K.gather_rows_kernel, x, idx, out)
    assert_close(out, x.double()[idx.long()], "f32")
    src = torch.randn(7, 9)
    perm = torch.randperm(12)[:7].to(torch.int32)
    dst = torch.zeros(12, 9)
    run(K.scatter_rows_kernel, src, perm, dst)
    expected = torch.zeros(12, 9, dtype=torch.float64)
    expected[perm.long()] = src.double()
    assert_close(dst, expected, "f32")


def test_sim_attention(run):
    torch.manual_seed(1)
    BH, S, D = 2, 19, 16
    q, k, v = (torch.randn(BH, S, D) for _ in range(3))
    o = poisoned((BH, S, D), torch.float32)
    run(K.attention_kernel, q, k, v, o, 0.25, config=tl.Config(BLOCK_M=8, BLOCK_N=8))
    s = (q.double() @ k.double().transpose(1, 2)) * 0.25
    s = s.masked_fill(torch.ones(S, S, dtype=torch.bool).triu(1), float("-inf"))
    assert_close(o, torch.softmax(s, -1) @ v.double(), "f32", S)


def test_sim_kmeans_and_moe(run):
    torch.manual_seed(2)
    x, cen = torch.randn(21, 8), torch.randn(13, 8)
    assign = poisoned((21,), torch.int32)
    run(K.kmeans_assign_kernel, x, cen, assign, config=tl.Config(BLOCK_P=16, BLOCK_C=8))
    d = (cen.double() ** 2).sum(1)[None, :] - 2 * x.double() @ cen.double().T
    assert torch.equal(assign.long(), d.argmin(1))
    xs, w = torch.randn(15, 20), torch.randn(20, 11)
    rows = torch.randint(0, 15, (9,), dtype=torch.int32)
    out = poisoned((9, 11), torch.float32)
    run(K.moe_expert_rows_kernel, xs, rows, w, out)
    assert_close(out, xs.double()[rows.long()] @ w.double(), "f32", 20)


# ---- stdlib convolution kernels, called through the normal path with the two runners registered ------

@pytest.fixture
def lower_backends(monkeypatch):
    from tilelang import backend as backends
    from tilelang.backends.cuda.emu import EmuBackend
    from tilelang.backends.cuda.sim import MemorySimBackend

    from tilelang.backends.hip.emu import HipEmuBackend
    from tilelang.backends.hip.sim import HipSimBackend

    backends._load_builtin_backends()
    monkeypatch.setitem(backends._REGISTRY, "cuda-sim", MemorySimBackend())
    monkeypatch.setitem(backends._REGISTRY, "cuda-emu", EmuBackend())
    monkeypatch.setitem(backends._REGISTRY, "hip-sim", HipSimBackend())
    monkeypatch.setitem(backends._REGISTRY, "hip-emu", HipEmuBackend())


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cuda-sim", "cuda-emu", "hip-sim", "hip-emu"])
@pytest.mark.parametrize("algorithm,stride,padding", [("direct", 2, 1), ("winograd", 1, 1)])
def test_stdlib_conv(lower_backends, backend, algorithm, stride, padding):
    from tilelang.stdlib.conv import conv2d

    torch.manual_seed(3)
    x, w = torch.randn(1, 3, 9, 11), torch.randn(4, 3, 3, 3)
    # small tiles: the fused Winograd kernel keeps [AP*AP, T, K] tiles in shared memory, which at
    # the GPU defaults would be more than a block may have
    config = tl.Config(BLOCK_T=4, BLOCK_K=4, BLOCK_C=4) if algorithm == "winograd" else None
    y = conv2d(x, w, padding=padding, stride=stride, algorithm=algorithm, backend=backend, config=config)
    expected = torch.nn.functional.conv2d(x.double(), w.double(), padding=padding, stride=stride)
    assert_close(y, expected, "f32", 27 * (8 if algorithm == "winograd" else 1))


# ---- every op of the registry, through both runners, against the reference interpreter -----------------

@pytest.fixture(scope="module")
def lowered_backends():
    """Registers the two runners by name for this module's tests only."""
    from tilelang import backend as backends
    from tilelang.backends.cuda.emu import EmuBackend
    from tilelang.backends.cuda.sim import MemorySimBackend

    backends._load_builtin_backends()
    added = {"cuda-sim": MemorySimBackend(), "cuda-emu": EmuBackend()}
    backends._REGISTRY.update(added)
    yield
    for name in added:
        backends._REGISTRY.pop(name, None)


def _against_reference(kernel, inputs, outputs, config, backend, dtype):
    res = []
    for be in (backend, "reference"):
        outs = [o.clone() for o in outputs]
        kernel(*inputs, *outs, config=config, backend=be)
        res.append(outs)
    for got, ref in zip(*res):
        if got.dtype in (torch.bool, torch.int32):
            assert torch.equal(got, ref)
        else:
            rtol, atol = TOL[dtype]
            torch.testing.assert_close(got.double(), ref.double(), rtol=rtol, atol=atol, equal_nan=True)
    return res[0]


SMALL = st.sampled_from([1, 5, 17, 33])


def test_every_op_is_lowered_or_refused_with_a_located_error():
    from test_cpu_backend import COVERS
    from test_scans_sort import scans_kernel
    from tilelang.errors import BackendError
    from tilelang.ir.ops import OPS
    from tilelang.passes.lower_memory import supported_op

    # test_every_op below runs the kernels of these families through both runners.
    tested = set().union(*(COVERS[k] for k in ("float_unary", "binary", "int", "reduce", "shape_ops", "gemm",
                                               "shapes_kernel")))
    assert {n for n in OPS if supported_op(n)} <= tested
    assert {n for n in OPS if not supported_op(n)} == {"cumsum", "cumprod", "cummax", "cummin", "sort", "topk",
                                                         "topk_index", "rand", "randint", "shl", "shr"}
    sig = {n: ArgSpec("tensor", "f32", 2) for n in ("x", "csum", "cprod", "cmax", "cmin")}
    k = run_pipeline(scans_kernel.lower(sig, {"N": 8}),
                     PassContext(config=tl.Config()))
    with pytest.raises(BackendError, match="does not lower `cum") as e:
        lower_to_memory(k, threads=32)
    assert e.value.loc is not None and e.value.loc.line > 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cuda-sim", "cuda-emu"])
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=2)
@given(n=SMALL, seed=st.integers(0, 1000))
def test_every_op(lowered_backends, backend, dtype, n, seed):
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, generator=g) * 3).to(dt)
    _against_reference(float_unary_kernel, [x], [poisoned((13, n), dt)], tl.Config(BLOCK_N=16), backend, dtype)
    a = torch.randn(n, 7, generator=g).to(dt)
    b = torch.where(torch.rand(n, 7, generator=g) < 0.2, a.float(), torch.randn(n, 7, generator=g)).to(dt)
    a[0, 0] = float("nan")
    _against_reference(binary_kernel, [a, b], [poisoned((6, n, 7), dt), torch.zeros(8, n, 7, dtype=torch.bool)],
                       tl.Config(BLOCK_M=16, BLOCK_N=8), backend, dtype)
    r = torch.randn(n, 37, generator=g).to(dt)
    gm, gn = -(-n // 16), -(-37 // 32)
    _against_reference(reduce_kernel, [r], [poisoned((3, n, gn), torch.float32), poisoned((3, gm, 37), torch.float32),
                                            poisoned((2, n, gn), torch.int32), poisoned((2, gm, 37), torch.int32)],
                       tl.Config(BLOCK_M=16, BLOCK_N=32), backend, dtype)
    if dtype == "f32":
        xi = torch.randint(-1000, 1000, (n,), generator=g, dtype=torch.int32)
        yi = torch.randint(-9, 9, (n,), generator=g, dtype=torch.int32)
        yi[yi == 0] = 3
        _against_reference(int_kernel, [xi, yi], [poisoned((10, n), torch.int32)], tl.Config(BLOCK_N=16), backend, dtype)
        s = torch.randn(n, 11, generator=g)
        outs = [poisoned((11, n), torch.float32), poisoned((n, 11), torch.float32), poisoned((n, 11), torch.float32)]
        got = _against_reference(shape_ops_kernel, [s], outs, tl.Config(BLOCK_M=16, BLOCK_N=8), backend, dtype)
        assert torch.equal(got[0], 2 * s.T)
        # arange, slice and reshape (tests/control_kernels.py)
        from control_kernels import shapes_kernel

        xs = torch.randn(n, 16, generator=g)
        got = _against_reference(shapes_kernel, [xs], [poisoned((n, 8), torch.float32) for _ in range(3)],
                                 tl.Config(BLOCK_M=16), backend, dtype)
        assert torch.equal(got[0], xs[:, 4:12] * 2)


# ---- random kernels: whatever the reference runs, the memory level computes alike --------------------

@settings(max_examples=60)
@given(src=__import__("test_frontend_fuzz").kernels())
def test_random_kernels_lower_and_run_like_the_reference(lowered_backends, tmp_path_factory, src):
    import importlib.util
    import warnings

    path = tmp_path_factory.mktemp("fuzz") / "fuzz_kernel.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"memfuzz_{abs(hash(src))}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    except SyntaxError:
        return
    x, y = torch.randn(5, 7), torch.randn(5, 7)
    cfg = tl.Config(BLOCK_M=4, BLOCK_N=8)
    ref = poisoned((5, 7), torch.float32)
    try:
        module.fuzz(x, y, ref, 0.5, config=cfg, backend="reference")
    except tl.TileLangError:
        return  # the kernel is wrong, and that is reported elsewhere
    got = poisoned((5, 7), torch.float32)
    module.fuzz(x, y, got, 0.5, config=cfg, backend="cuda-sim")
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6, equal_nan=True, msg=lambda m: f"{m}\n{src}")


@tl.tile
def _branchy(x, out, flag):
    (N,) = x.shape
    for n in tl.tile(N):
        if flag > 0:
            out[n] = x[n]
        else:
            out[n] = x[n] * 2.0


@tl.tile
def _atomic_total(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        tl.atomic_add(out[0], tl.sum(x[n], axis=0))


@pytest.mark.parametrize("kernel, sig, what", [
    (_branchy, {"x": ArgSpec("tensor", "f32", 1), "out": ArgSpec("tensor", "f32", 1),
                "flag": ArgSpec("scalar", "i32")}, "`if`"),
    (_atomic_total, {"x": ArgSpec("tensor", "f32", 1), "out": ArgSpec("tensor", "f32", 1)}, "atomic stores"),
])
def test_constructs_the_level_lacks_are_refused_not_dropped(kernel, sig, what):
    from tilelang.errors import BackendError

    k = run_pipeline(kernel.lower(sig), PassContext(config=tl.Config()))
    with pytest.raises(BackendError, match=f"does not lower {what}") as e:
        lower_to_memory(k, threads=32, target=None)  # (atomics are lowered for GPU targets)
    assert e.value.loc is not None and e.value.loc.line > 0
