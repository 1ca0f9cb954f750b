"""The cpu backend (llvmlite): every op lowers; kernels match the reference interpreter and torch in
float64 on hypothesis-drawn shapes (1, primes, ragged tails) in f32/f16/bf16; non-contiguous inputs;
the on-disk cache is reused by another process; AOT artifacts; errors are BackendErrors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang import backend as backends
from tilelang.ir.ops import OPS

from conftest import TORCH_DTYPES, assert_close, poisoned

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from cpu_kernels import linear_relu_kernel, matmul_kernel, softmax_rows_kernel  # noqa: E402
from kernels import causal_mask_kernel, gather_rows_kernel  # noqa: E402

SIZES = st.one_of(st.sampled_from([1, 2, 3, 5, 7, 13, 16, 17, 31, 37, 64, 67]), st.integers(1, 100))
TOL = {"f32": (1e-5, 1e-5), "f16": (2e-3, 2e-3), "bf16": (1.6e-2, 1.6e-2)}


# ---- kernels covering every op ------------------------------------------------------------------

@tl.tile
def float_unary_kernel(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        v = x[n]
        p = tl.abs(v) + 0.25
        out[0, n] = tl.exp(v)
        out[1, n] = tl.exp2(v)
        out[2, n] = tl.log(p)
        out[3, n] = tl.log2(p)
        out[4, n] = tl.sqrt(p)
        out[5, n] = tl.rsqrt(p)
        out[6, n] = tl.sin(v)
        out[7, n] = tl.cos(v)
        out[8, n] = tl.sigmoid(v)
        out[9, n] = tl.floor(v * 3.0)
        out[10, n] = tl.ceil(v * 3.0)
        out[11, n] = -v
        out[12, n] = v / p


@tl.tile
def binary_kernel(x, y, out, flags):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        a = x[m, n]
        b = y[m, n]
        out[0, m, n] = a + b
        out[1, m, n] = a - b
        out[2, m, n] = a * b
        out[3, m, n] = tl.maximum(a, b)
        out[4, m, n] = tl.minimum(a, b)
        out[5, m, n] = tl.where(a > b, a, b * 2.0)
        flags[0, m, n] = a < b
        flags[1, m, n] = a <= b
        flags[2, m, n] = a > b
        flags[3, m, n] = a >= b
        flags[4, m, n] = (a == b) | (a > 0.5)
        flags[5, m, n] = (a != b) & (b < 0.0)
        flags[6, m, n] = (a > 0.0) ^ (b > 0.0)
        flags[7, m, n] = ~(a > b)


@tl.tile
def int_kernel(x, y, out):
    (N,) = x.shape
    for n in tl.tile(N):
        a = x[n]
        b = y[n]
        out[0, n] = a // b
        out[1, n] = a % b
        out[2, n] = a & b
        out[3, n] = a | b
        out[4, n] = a ^ b
        out[5, n] = ~a
        out[6, n] = tl.abs(a) - b
        out[7, n] = tl.maximum(a, b) * tl.minimum(a, b)
        out[8, n] = (a.to(tl.float32) * 0.37).to(tl.int32)
        out[9, n] = (a > b).to(tl.int32) + n.index * 0 + n.id - n.start


@tl.tile
def reduce_kernel(x, rows, cols, rows_i, cols_i):
    """Reductions along both axes (two code paths); one tile per program in each direction."""
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        v = tl.load(x[m, n], other=0.0)
        ok = (m.index[:, None] < M) & (n.index[None, :] < N)
        rows[0, m, n.id] = (tl.sum(v, axis=1)).to(rows.dtype)
        rows[1, m, n.id] = (tl.max(tl.where(ok, v, float("-inf")), axis=1)).to(rows.dtype)
        rows[2, m, n.id] = (tl.min(tl.where(ok, v, float("inf")), axis=1)).to(rows.dtype)
        rows_i[0, m, n.id] = tl.argmax(tl.where(ok, v, float("-inf")), axis=1)
        rows_i[1, m, n.id] = tl.argmin(tl.where(ok, v, float("inf")), axis=1)
        cols[0, m.id, n] = (tl.sum(v, axis=0)).to(cols.dtype)
        cols[1, m.id, n] = (tl.max(tl.where(ok, v, float("-inf")), axis=0)).to(cols.dtype)
        cols[2, m.id, n] = (tl.min(tl.where(ok, v, float("inf")), axis=0)).to(cols.dtype)
        cols_i[0, m.id, n] = tl.argmax(tl.where(ok, v, float("-inf")), axis=0)
        cols_i[1, m.id, n] = tl.argmin(tl.where(ok, v, float("inf")), axis=0)


@tl.tile
def shape_ops_kernel(x, out_t, out_b, out_s):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        v = x[m, n]
        out_t[n, m] = tl.trans(v) * 2.0
        # (A row sum here would be partial over the grid tile n: the soundness checker rejects it.)
        r = tl.broadcast_to((m.index[:, None] * 2).to(tl.float32), [m, n])
        out_b[m, n] = tl.cast(r, out_b.dtype) + tl.zeros([m, n], tl.float32)
        w = tl.zeros([m, n], tl.float32)
        w = (tl.full([m, n], 1.0, tl.float32) * (m.index[:, None] * N + n.index[None, :])).to(tl.float32)
        u = w
        w = w + 1.0
        out_s[m, n] = u - w


COVERS = {
    "float_unary": {"exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos", "sigmoid", "floor", "ceil",
                    "abs", "neg", "add", "truediv", "mul", "copy", "cast"},
    "binary": {"add", "sub", "mul", "maximum", "minimum", "where", "lt", "le", "gt", "ge", "eq", "ne", "and",
               "or", "xor", "not"},
    "int": {"floordiv", "mod", "and", "or", "xor", "not", "abs", "sub", "maximum", "minimum", "mul", "cast",
            "gt", "tile_index", "tile_id", "tile_start"},
    "reduce": {"sum", "max", "min", "argmax", "argmin", "where", "lt", "and", "expand_dims", "tile_index", "size"},
    "shape_ops": {"trans", "broadcast_to", "full", "expand_dims", "mul", "cast", "tile_index", "size", "copy"},
    "gemm": {"dot", "full", "add", "cast"},
    # kernels of the ops tests (test_scans_sort, test_random, test_bits_unsigned), run there on cpu too
    "scans_sort": {"cumsum", "cumprod", "cummax", "cummin", "sort", "topk", "topk_index"},
    "random": {"rand", "randint"},
    "shifts": {"shl", "shr"},
    "shapes_kernel": {"arange", "reshape", "slice", "mul", "sum", "add"},  # in tests/control_kernels.py
}


def test_every_op_is_covered_and_lowered():
    missing = set(OPS) - set().union(*COVERS.values())
    assert not missing, f"ops without a cpu backend test: {sorted(missing)}"
    # The ops each kernel really produces are the ones COVERS claims (so the claim is checked).
    from tilelang.runtime.launch import bind_arguments
    from tilelang.ir import nodes as ir

    def ops_of(kernel, args):
        _, sig, _ = bind_arguments(kernel, args)
        final, _ = kernel.compile(sig, None, backends.get("cpu"))
        return {s.value.name for s in ir.walk(final.body) if isinstance(s, ir.Assign) and isinstance(s.value, ir.Op)}

    x = torch.randn(8, 8)
    seen = set()
    seen |= ops_of(float_unary_kernel, (torch.randn(8), torch.empty(13, 8)))
    seen |= ops_of(binary_kernel, (x, x, torch.empty(6, 8, 8), torch.empty(8, 8, 8, dtype=torch.bool)))
    seen |= ops_of(int_kernel, (torch.ones(8, dtype=torch.int32),) * 2 + (torch.empty(10, 8, dtype=torch.int32),))
    seen |= ops_of(reduce_kernel, (x, torch.empty(3, 8, 1), torch.empty(3, 1, 8), torch.empty(2, 8, 1, dtype=torch.int32),
                                   torch.empty(2, 1, 8, dtype=torch.int32)))
    seen |= ops_of(shape_ops_kernel, (x, torch.empty(8, 8), torch.empty(8, 8), torch.empty(8, 8)))
    seen |= ops_of(matmul_kernel, (x, x, torch.empty(8, 8)))
    import test_bits_unsigned
    import test_random
    import test_scans_sort

    def ops_whole(kernel, args):  # kernels taking a dimension whole (x[m, :]) compile for its size
        _, sig, _ = bind_arguments(kernel, args)
        final, _ = kernel.compile(sig, None, backends.get("cpu"), {"N": 8})
        return {s.value.name for s in ir.walk(final.body) if isinstance(s, ir.Assign) and isinstance(s.value, ir.Op)}

    seen |= ops_whole(test_scans_sort.scans_kernel, (x,) + tuple(torch.empty(8, 8) for _ in range(4)))
    seen |= ops_whole(test_scans_sort.sort_kernel, (x, x.clone(), x.clone(), torch.empty(8, 4),
                                                    torch.empty(8, 4, dtype=torch.int32)))
    seen |= ops_of(test_random.random_kernel, (3, torch.zeros(8, dtype=torch.int64)) +
                   tuple(torch.empty(8, dtype=dt) for dt in (torch.uint32, torch.float32, torch.uint32)))
    seen |= ops_of(test_bits_unsigned.shift_kernel, tuple(torch.zeros(8, dtype=torch.uint32) for _ in range(5)))
    import control_kernels
    seen |= ops_of(control_kernels.shapes_kernel, (torch.randn(8, 16),) + tuple(torch.empty(8, 8) for _ in range(3)))
    assert set(OPS) <= seen, f"not exercised: {sorted(set(OPS) - seen)}"


def _both(kernel, inputs, outputs, config=None):
    """Run on cpu and reference with poisoned outputs; returns (cpu outputs, reference outputs)."""
    res = []
    for be in ("cpu", "reference"):
        outs = [o.clone() for o in outputs]
        kernel(*inputs, *outs, config=config, backend=be)
        res.append(outs)
    return res


def _close(a, b, dtype):
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(a.double(), b.double(), rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=4)
@given(n=SIZES, block=st.sampled_from([8, 16, 64]), seed=st.integers(0, 1000))
def test_float_unary_ops(dtype, n, block, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, generator=g) * 3).to(TORCH_DTYPES[dtype])
    (cpu,), (ref,) = _both(float_unary_kernel, [x], [poisoned((13, n), TORCH_DTYPES[dtype])],
                           tl.Config(BLOCK_N=block))
    assert not torch.isnan(cpu).any()
    _close(cpu, ref, dtype)
    if dtype == "f32":
        v = x.double()
        p = v.abs() + 0.25
        exp64 = torch.stack([v.exp(), torch.exp2(v), p.log(), p.log2(), p.sqrt(), p.rsqrt(), v.sin(), v.cos(),
                             torch.sigmoid(v), (v * 3).floor(), (v * 3).ceil(), -v, v / p])
        exp64[9:11] = cpu.double()[9:11]  # floor/ceil of x*3 computed in f32: compared with the reference above
        torch.testing.assert_close(cpu.double(), exp64, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=4)
@given(M=SIZES, N=SIZES, seed=st.integers(0, 1000))
def test_binary_and_compare_ops(dtype, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g).to(TORCH_DTYPES[dtype])
    y = torch.where(torch.rand(M, N, generator=g) < 0.2, x.float(), torch.randn(M, N, generator=g)).to(x.dtype)
    x[0, 0] = float("nan")
    outs = [poisoned((6, M, N), x.dtype), torch.zeros(8, M, N, dtype=torch.bool)]
    cpu, ref = _both(binary_kernel, [x, y], outs, tl.Config(BLOCK_M=16, BLOCK_N=16))
    _close(cpu[0], ref[0], dtype)
    assert torch.equal(cpu[1], ref[1])


@settings(max_examples=8)
@given(n=SIZES, seed=st.integers(0, 1000))
def test_integer_ops(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-1000, 1000, (n,), generator=g, dtype=torch.int32)
    y = torch.randint(-9, 9, (n,), generator=g, dtype=torch.int32)
    y[y == 0] = 3
    cpu, ref = _both(int_kernel, [x, y], [poisoned((10, n), torch.int32)], tl.Config(BLOCK_N=16))
    assert torch.equal(cpu[0], ref[0])


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=5)
@given(M=SIZES, N=SIZES, seed=st.integers(0, 1000))
def test_reductions_both_axes(dtype, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g).to(TORCH_DTYPES[dtype])
    bm, bn = 16, 32
    gm, gn = -(-M // bm), -(-N // bn)
    outs = [poisoned((3, M, gn), torch.float32), poisoned((3, gm, N), torch.float32),
            poisoned((2, M, gn), torch.int32), poisoned((2, gm, N), torch.int32)]
    cpu, ref = _both(reduce_kernel, [x], outs, tl.Config(BLOCK_M=bm, BLOCK_N=bn))
    for c, r in zip(cpu[:2], ref[:2]):
        _close(c, r, dtype)
    assert torch.equal(cpu[2], ref[2]) and torch.equal(cpu[3], ref[3])
    assert torch.equal(cpu[2][0, :, 0].long(), x[:, :bn].float().argmax(dim=1))


@settings(max_examples=5)
@given(M=SIZES, N=SIZES)
def test_shape_ops(M, N):
    x = torch.randn(M, N)
    outs = [poisoned((N, M), torch.float32), poisoned((M, N), torch.float32), poisoned((M, N), torch.float32)]
    cpu, ref = _both(shape_ops_kernel, [x], outs, tl.Config(BLOCK_M=16, BLOCK_N=8))
    for c, r in zip(cpu, ref):
        _close(c, r, "f32")
    assert torch.equal(cpu[0], 2 * x.T)
    assert torch.equal(cpu[1], (2 * torch.arange(M, dtype=torch.float32))[:, None].expand(M, N))


# ---- kernels against torch in float64 -----------------------------------------------------------

GEMM_TILES = st.sampled_from([(16, 16, 16), (32, 32, 8), (8, 48, 24), (64, 64, 64), (13, 16, 7), (6, 20, 5)])


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=6)
@given(M=SIZES, N=SIZES, K=SIZES, tiles=GEMM_TILES, seed=st.integers(0, 1000))
def test_gemm(dtype, M, N, K, tiles, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(M, K, generator=g).to(TORCH_DTYPES[dtype])
    b = torch.randn(K, N, generator=g).to(TORCH_DTYPES[dtype])
    cfg = tl.Config(BLOCK_M=tiles[0], BLOCK_N=tiles[1], BLOCK_K=tiles[2])
    (cpu,), (ref,) = _both(matmul_kernel, [a, b], [poisoned((M, N), a.dtype)], cfg)
    assert_close(cpu, a.double() @ b.double(), dtype, reduction_len=K)
    _close(cpu, ref, dtype) if dtype == "f32" else assert_close(cpu, ref.double(), dtype, reduction_len=K)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=5)
@given(M=SIZES, N=SIZES, seed=st.integers(0, 1000), tiles=st.sampled_from([(4, 16), (16, 64), (1, 7)]))
def test_softmax(dtype, M, N, seed, tiles):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(M, N, generator=g) * 4).to(TORCH_DTYPES[dtype])
    (cpu,), (ref,) = _both(softmax_rows_kernel, [x], [poisoned((M, N), x.dtype)],
                           tl.Config(BLOCK_M=tiles[0], BLOCK_N=tiles[1]))
    assert_close(cpu, torch.softmax(x.double(), dim=1), dtype, reduction_len=N)
    assert_close(cpu, ref.double(), dtype, reduction_len=N)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=5)
@given(M=SIZES, N=SIZES, K=SIZES, seed=st.integers(0, 1000))
def test_linear_relu(dtype, M, N, K, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(M, K, generator=g).to(TORCH_DTYPES[dtype])
    b = torch.randn(K, N, generator=g).to(TORCH_DTYPES[dtype])
    bias = torch.randn(N, generator=g).to(TORCH_DTYPES[dtype])
    (cpu,), (ref,) = _both(linear_relu_kernel, [a, b, bias], [poisoned((M, N), a.dtype)],
                           tl.Config(BLOCK_M=16, BLOCK_N=32, BLOCK_K=16))
    assert_close(cpu, torch.relu(a.double() @ b.double() + bias.double()), dtype, reduction_len=K)


@settings(max_examples=5)
@given(M=SIZES, N=SIZES)
def test_causal_mask(M, N):
    s = torch.randn(M, N)
    out = poisoned((M, N), torch.float32)
    causal_mask_kernel(s, out, config=tl.Config(BLOCK_M=16, BLOCK_N=16), backend="cpu")
    assert torch.equal(out, torch.tril(s))


@settings(max_examples=5)
@given(R=st.integers(1, 40), D=SIZES, G=st.integers(1, 50), seed=st.integers(0, 1000))
def test_gather(R, D, G, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(R, D, generator=g)
    idx = torch.randint(0, R, (G,), generator=g, dtype=torch.int32)
    out = poisoned((G, D), torch.float32)
    gather_rows_kernel(x, idx, out, config=tl.Config(BLOCK_G=16, BLOCK_D=16), backend="cpu")
    assert torch.equal(out, x[idx.long()])


# ---- memory layout, defaults, caching, AOT, errors ----------------------------------------------

def test_non_contiguous_inputs_and_output():
    a = torch.randn(70, 45).T  # [45, 70], strides (1, 45)
    b = torch.randn(33, 70).T[::1, ::2]  # [70, 17], non-unit strides
    c = poisoned((17, 45), torch.float32).T  # transposed output view
    matmul_kernel(a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=32), backend="cpu")
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=70)


def test_cpu_is_the_default_for_cpu_tensors():
    be = backends.default_for("cpu")
    assert be.name == "cpu" and be.priority > backends.get("reference").priority
    a, b = torch.randn(300, 200), torch.randn(200, 100)
    c = poisoned((300, 100), torch.float32)
    matmul_kernel(a, b, c)  # default backend and default tile sizes
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=200)


SCRIPT = textwrap.dedent("""
    import json, sys, torch
    sys.path.insert(0, {bench!r})
    import tilelang as tl
    from cpu_kernels import matmul_kernel
    from tilelang.backends.cpu import STATS
    a, b = torch.randn(40, 30), torch.randn(30, 20)
    c = torch.empty(40, 20)
    matmul_kernel(a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), backend="cpu")
    assert torch.allclose(c, a @ b, atol=1e-4)
    print(json.dumps(STATS))
""")


def test_disk_cache_is_reused_by_another_process(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(bench=str(ROOT / "benchmarks")))
    env = dict(os.environ, TILELANG_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("TILELANG_DUMP_LLVM", None)
    runs = [json.loads(subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1]) for _ in range(2)]
    assert runs[0]["optimized"] == 1 and runs[0]["disk_hits"] == 0
    assert runs[1]["optimized"] == 0 and runs[1]["ir_built"] == 0 and runs[1]["disk_hits"] == 1
    assert list((tmp_path / "cache" / "cpu").iterdir())


def test_dump_llvm_to_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_DUMP_LLVM", str(tmp_path / "dump"))
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    c = torch.empty(64, 64)
    matmul_kernel(a, b, c, config=tl.Config(BLOCK_M=24, BLOCK_N=64, BLOCK_K=32), backend="cpu")
    asm = next((tmp_path / "dump").glob("*.s")).read_text()
    # The code is built for the host CPU, so ask the host what it has (AVX-512, AVX2 or neither).
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    widest = "zmm" if features.get("avx512f") else "ymm" if features.get("avx2") else "xmm"
    assert widest in asm, f"no {widest} register used on a host with {widest}-wide vectors"
    if features.get("fma"):
        assert "vfmadd" in asm
    assert next((tmp_path / "dump").glob("*.ll")).read_text().startswith("; ModuleID")


def test_write_aot(tmp_path):
    from tilelang.frontend.lower import ArgSpec
    from tilelang.passes import PassContext, run_pipeline

    sig = {n: ArgSpec("tensor", "f32", 2) for n in ("a", "b", "c")}
    final = run_pipeline(matmul_kernel.lower(sig), PassContext(config=tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32),
                                                               target="cpu"))
    be = backends.for_aot_target("cpu")
    info = be.write_aot(final, "cpu", tmp_path, "k")
    for f in info["files"]:
        assert (tmp_path / f).stat().st_size > 0
    assert (tmp_path / "matmul_kernel.o").read_bytes()[:4] == b"\x7fELF"
    assert info["entry"] == "tl_matmul_kernel" and info["args"][0]["kind"] == "data_ptr"


def test_unsupported_target_is_a_backend_error(tmp_path):
    from tilelang.errors import BackendError

    with pytest.raises(BackendError, match="unknown target"):
        backends.get("cpu").write_aot(None, "cpu:avx2", tmp_path, "k")


def test_out_of_range_gather_never_touches_memory_outside_the_tensor():
    """An error the reference reports; the cpu backend must still not crash or read outside the
    tensor: an out-of-range row reads the fill value (0), as past the edge (docs/safety.md)."""
    from kernels import gather_rows_kernel

    x = torch.arange(4 * 8, dtype=torch.float32).reshape(4, 8)
    idx = torch.tensor([0, 10_000_000, -5_000_000, 3], dtype=torch.int32)
    out = torch.full((4, 8), float("nan"))
    gather_rows_kernel(x, idx, out, backend="cpu")
    assert torch.equal(out[0], x[0]) and torch.equal(out[3], x[3])
    assert not out[1].any() and not out[2].any()  # the fill value


def test_out_of_range_scatter_is_skipped():
    from kernels import scatter_rows_kernel

    src = torch.arange(3 * 8, dtype=torch.float32).reshape(3, 8) + 1
    idx = torch.tensor([1, 99_999_999, -7], dtype=torch.int32)
    out = torch.zeros(4, 8)
    scatter_rows_kernel(src, idx, out, backend="cpu")
    assert torch.equal(out[1], src[0]) and out[[0, 2, 3]].abs().sum() == 0
