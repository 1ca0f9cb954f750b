"""What the explicit-memory level covers beyond plain tiles: atomics on global tensors, and every
stdlib kernel lowering, running in the memory-level interpreter and compiling to PTX and cubin for
sm_80 and sm_90a."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.backends.cuda import memory_program
from tilelang.backends.cuda.emu import run_emulated
from tilelang.backends.cuda.render import render_cuda
from tilelang.backends.cuda.sim import run_simulated
from tilelang.backends.cuda.toolchain import compile_cuda, toolchain
from tilelang.errors import BackendError
from tilelang.frontend.lower import ArgSpec
from tilelang.passes import PassContext, run_pipeline
from tilelang.passes.lower_memory import lower_to_memory

from test_atomics import _values, scatter_kernel
from test_stdlib_ir import KERNELS


@pytest.mark.parametrize("run", [run_simulated, pytest.param(run_emulated, marks=pytest.mark.slow)],
                         ids=["memir", "cuda-emu"])
@pytest.mark.parametrize("dtype", ["f32", "i32", "f64", "i64"])
@settings(max_examples=2, deadline=None)
@given(n=st.integers(1, 90), bins=st.integers(1, 9), seed=st.integers(0, 10_000))
def test_atomics_with_duplicates(run, dtype, n, bins, seed):
    """atomicAdd / atomicMax / atomicMin (CAS loops for floats) with many lanes on one element."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, bins, (n,), generator=g, dtype=torch.int32)
    w = _values(dtype, n, g)
    hist, hmax, hmin = (_values(dtype, bins, g) for _ in range(3))
    want = [hist.double().clone(), hmax.double().clone(), hmin.double().clone()]
    for i, v in zip(idx.tolist(), w.double().tolist()):
        if v == 3:
            continue
        want[0][i] += v
        want[1][i] = max(want[1][i], v)
        want[2][i] = min(want[2][i], v)
    run(scatter_kernel, idx, w, hist, hmax, hmin, config=tl.Config(BLOCK_N=16))
    for got, ref in zip((hist, hmax, hmin), want):
        torch.testing.assert_close(got.double(), ref, rtol=1e-5 if dtype == "f32" else 1e-12, atol=1e-4)


def test_a_level_without_atomics_refuses_them_with_a_location():
    sig = {"idx": ArgSpec("tensor", "i32", 1), **{n: ArgSpec("tensor", "f32", 1) for n in ("w", "hist", "hmax", "hmin")}}
    k = run_pipeline(scatter_kernel.lower(sig), PassContext(config=tl.Config()))
    with pytest.raises(BackendError, match="does not lower atomic stores") as e:
        lower_to_memory(k, threads=1, target=None)
    assert e.value.loc is not None and e.value.loc.line > 0


def _final(kernel, sig, fixed, config):
    return run_pipeline(kernel.lower(sig, fixed), PassContext(config=config, target="cuda", pow2_tiles=True))


@pytest.fixture(scope="module")
def stdlib_ptx():
    """Every stdlib kernel of test_stdlib_ir in one translation unit per arch (one nvcc run each)."""
    config = tl.Config()
    sources = []
    for i, (kernel, sig, fixed) in enumerate(KERNELS):
        r = render_cuda(memory_program(_final(kernel, sig, fixed, config), config))
        body = r.source[len(r.prelude):].replace(f" {r.entry}(", f" {r.entry}_{i}(", 1)
        sources.append((f"{r.entry}_{i}", body, r.prelude))
    source = sources[0][2] + "\n" + "\n".join(b for _, b, _ in sources)
    return {arch: compile_cuda(source, arch, "stdlib") for arch in ("sm_80", "sm_90a")}, [n for n, _, _ in sources]


@pytest.mark.slow
@pytest.mark.skipif(not toolchain(), reason="no nvcc or NVRTC")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_every_stdlib_kernel_compiles_to_ptx_and_cubin(stdlib_ptx, arch):
    builds, names = stdlib_ptx
    ptx, cubin = builds[arch]
    assert f".target {arch}" in ptx and cubin[:4] == b"\x7fELF"
    for name in names:
        assert f".entry {name}(" in ptx, name
    # the f16 GEMM epilogue kernels run on tensor cores, the k-means accumulation uses atomics
    assert "mma.sync.aligned.m16n8k16" in ptx and ("atom.global" in ptx or "red.global" in ptx)


# ---- the stdlib's entry points through the memory level, against float64 torch -------------------------

@pytest.fixture(scope="module")
def memory_backends():
    """Registers the two memory-level runners by name for this module's tests only."""
    from tilelang import backend as backends
    from tilelang.backends.cuda.emu import EmuBackend
    from tilelang.backends.cuda.sim import MemorySimBackend

    backends._load_builtin_backends()
    added = {"cuda-sim": MemorySimBackend(), "cuda-emu": EmuBackend()}
    saved = {n: backends._REGISTRY.get(n) for n in added}
    backends._REGISTRY.update(added)
    yield
    for name, old in saved.items():
        if old is None:
            backends._REGISTRY.pop(name, None)
        else:
            backends._REGISTRY[name] = old


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["cuda-sim", "cuda-emu"])
@settings(max_examples=1, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 9), seq=st.integers(1, 23))
def test_stdlib_entry_points(memory_backends, backend, seed, rows, seq):
    """softmax, layer/RMS norm, GEMM with epilogue (f16, tensor cores), k-means, flash attention
    (runtime-bounded key loop; f32 and f16), lightning attention: shapes fit no tile size."""
    from tilelang.stdlib import flash_attention, kmeans_assign, layer_norm, lightning_attention, matmul, rms_norm, \
        softmax

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 37, generator=g)
    torch.testing.assert_close(softmax(x, backend=backend).double(), torch.softmax(x.double(), -1), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(layer_norm(x, (37,), backend=backend).double(),
                               torch.nn.functional.layer_norm(x.double(), (37,)), rtol=1e-4, atol=1e-4)
    wr = torch.rand(37, generator=g) + 0.5
    ms = (x.double() ** 2).mean(-1, keepdim=True)
    torch.testing.assert_close(rms_norm(x, (37,), wr, eps=1e-6, backend=backend).double(),
                               x.double() / torch.sqrt(ms + 1e-6) * wr.double(), rtol=1e-4, atol=1e-4)
    a, b = torch.randn(rows + 11, 24, generator=g).half(), torch.randn(24, 18, generator=g).half()
    bias = torch.randn(18, generator=g).half()
    got = matmul(a, b, bias=bias, activation="relu", backend=backend)
    torch.testing.assert_close(got.double(), torch.relu(a.double() @ b.double() + bias.double()), rtol=1e-2, atol=2e-2)
    pts, cen = torch.randn(seq + 7, 5, generator=g), torch.randn(4, 5, generator=g)
    assert torch.equal(kmeans_assign(pts, cen, backend=backend).long(), torch.cdist(pts.double(), cen.double()).argmin(1))
    for dt, tol in ((torch.float32, 1e-4), (torch.float16, 1e-2)):
        q, k, v = (torch.randn(1, 2, seq, 16, generator=g).to(dt) for _ in range(3))
        for causal in (False, True):
            want = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal)
            torch.testing.assert_close(flash_attention(q, k, v, causal=causal, backend=backend).double(), want,
                                       rtol=tol, atol=tol)
    q, k, v = (torch.randn(1, 2, seq, 16, generator=g) for _ in range(3))
    decay = torch.rand(2, generator=g)
    ref = lightning_attention(q, k, v, decay, backend="reference")
    torch.testing.assert_close(lightning_attention(q, k, v, decay, backend=backend), ref, rtol=1e-4, atol=1e-4)


# ---- control flow: `if` on uniform conditions, runtime-bounded loops -----------------------------------

def _control_cases(g):
    import control_kernels as CK

    x = torch.randn(37, 45, generator=g)
    flags = torch.randint(0, 2, (5,), generator=g, dtype=torch.int32)
    cu = torch.tensor([0, 3, 3, 11, 20], dtype=torch.int32)
    xs = torch.randn(20, 13, generator=g).half()
    nan = lambda *s: torch.full(s, float("nan"))  # noqa: E731
    return [
        (CK.scalar_branches, [x, flags, nan(37, 45), 1], 2, tl.Config(BLOCK_M=16, BLOCK_N=16)),
        (CK.scalar_branches, [x, flags, nan(37, 45), 0], 2, tl.Config(BLOCK_M=16, BLOCK_N=16)),
        (CK.branch_in_loop, [x, nan(37), 2], 1, tl.Config(BLOCK_M=16, BLOCK_K=8)),
        (CK.varlen_mean, [xs, cu, torch.full((4, 13), float("nan")).half()], 2, tl.Config(BLOCK_D=16, BLOCK_T=4)),
        (CK.nested_control, [x, torch.tensor([3, 40], dtype=torch.int32), nan(37)], 2,
         tl.Config(BLOCK_M=16, BLOCK_N=8)),
        (CK.nested_control, [x, torch.tensor([9, 2], dtype=torch.int32), nan(37)], 2,
         tl.Config(BLOCK_M=16, BLOCK_N=8)),
    ]


@pytest.mark.parametrize("run", [run_simulated, pytest.param(run_emulated, marks=pytest.mark.slow)],
                         ids=["memir", "cuda-emu"])
@settings(max_examples=1, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_control_flow_kernels_against_the_reference(run, seed):
    """Every output of each control-flow kernel, through the memory level, against the reference
    interpreter on the same inputs (each output poisoned with NaN before the run)."""
    g = torch.Generator().manual_seed(seed)
    for kernel, args, out_at, config in _control_cases(g):
        ref = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        kernel(*ref, config=config, backend="reference")
        got = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        run(kernel, *got, config=config)
        torch.testing.assert_close(got[out_at].double(), ref[out_at].double(), rtol=1e-5, atol=1e-5, equal_nan=False,
                                   msg=lambda m: f"{kernel.name}: {m}")
