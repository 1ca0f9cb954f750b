"""Control flow and structure (docs/language.md): every kernel on every backend against torch in
float64, on random shapes that are not tile multiples, into poisoned outputs."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang import backend as backends
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir
from tilelang.ir.parser import parse
from tilelang.ir.printer import print_kernel

import control_kernels as K
from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned

SIZES = st.one_of(st.sampled_from([1, 3, 17, 33]), st.integers(1, 70))


def final(kernel, sig, config=tl.Config(), backend="reference"):
    return kernel.final_ir(sig, config, backends.get(backend))


def stmts_of(kernel, cls):
    return [s for s in ir.walk(kernel.body) if isinstance(s, cls)]


# ---- compile-time: tl.static_range, if on Config / globals ------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("block", [16, 32])
@settings(max_examples=4)
@given(n=SIZES, seed=st.integers(0, 1000))
def test_static_range_and_compile_time_if(backend, block, n, seed):
    x = torch.randn(n, generator=torch.Generator().manual_seed(seed))
    out = poisoned((n,), torch.float32)
    K.unrolled_poly(x, out, config=tl.Config(BLOCK_N=block), backend=backend)
    a = x.double()
    want = a + 2 * a ** 2 + 3 * a ** 3 + (100.0 if block >= 32 else 0.0) + a * a
    assert_close(out, want, "f32", reduction_len=4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("block_n", [8, 32])
def test_unroll_count_from_a_config_tile_size(backend, block_n):
    x = torch.randn(21, 45)
    out = poisoned((21, 45), torch.float32)
    K.shape_unroll(x, out, config=tl.Config(BLOCK_M=16, BLOCK_N=block_n), backend=backend)
    assert_close(out, x.double() * (block_n // 8), "f32", reduction_len=4)


def test_compile_time_if_emits_no_ir_for_the_branch_not_taken():
    sig = {"x": ArgSpec("tensor", "f32", 1), "out": ArgSpec("tensor", "f32", 1)}
    for block, adds in [(16, 0), (32, 1)]:
        k = final(K.unrolled_poly, sig, tl.Config(BLOCK_N=block))
        assert not stmts_of(k, ir.If)
        ops = [s.value.name for s in stmts_of(k, ir.Assign) if isinstance(s.value, ir.Op)]
        assert "log" not in ops  # the `else` of `if USE_SQUARE` was never lowered
        consts = [a.value for s in stmts_of(k, ir.Assign) if isinstance(s.value, ir.Op)
                  for a in s.value.args if isinstance(a, ir.Const)]
        assert consts.count(100.0) == adds
        assert ops.count("mul") >= 3 + 2  # three unrolled products and powers


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(M=SIZES, N=SIZES, seed=st.integers(0, 1000))
def test_constant_parameter_selects_a_branch(backend, M, N, seed):
    x = torch.randn(M, N, generator=torch.Generator().manual_seed(seed))
    for lower in (True, False):
        out = poisoned((M, N), torch.float32)
        K.triangle(x, out, lower, config=tl.Config(BLOCK_M=16, BLOCK_N=16), backend=backend)
        want = torch.tril(x.double()) if lower else torch.triu(x.double())
        assert_close(out, want, "f32")


def test_constant_parameter_is_not_an_ir_parameter():
    sig = {"x": ArgSpec("tensor", "f32", 2), "out": ArgSpec("tensor", "f32", 2), "lower": ArgSpec("const", "bool", 0, True)}
    k = final(K.triangle, sig)
    assert [p.name for p in k.params] == ["x", "out"] and not stmts_of(k, ir.If)
    ops = [s.value.name for s in stmts_of(k, ir.Assign) if isinstance(s.value, ir.Op)]
    assert "ge" in ops and "le" not in ops


# ---- runtime if -----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(M=SIZES, N=SIZES, mode=st.integers(-2, 2), seed=st.integers(0, 1000))
def test_runtime_if_on_scalars(backend, M, N, mode, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g)
    flags = torch.randint(0, 2, (5,), generator=g, dtype=torch.int32)
    out = poisoned((M, N), torch.float32)
    K.scalar_branches(x, flags, out, mode, config=tl.Config(BLOCK_M=16, BLOCK_N=16), backend=backend)
    a = x.double()
    y, z = (a * 2, 1.0) if mode > 0 else (a - 1, -1.0)
    rows = torch.arange(M) // 16 % 5
    y = y + torch.where(flags[rows].bool()[:, None], z, 0.0)
    if N > 40:
        y = y * 0.5
    assert_close(out, y, "f32")


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=5)
@given(M=SIZES, Kd=SIZES, thresh=st.integers(-1, 5), seed=st.integers(0, 1000))
def test_runtime_if_inside_loop(backend, M, Kd, thresh, seed):
    x = torch.randn(M, Kd, generator=torch.Generator().manual_seed(seed))
    out = poisoned((M,), torch.float32)
    K.branch_in_loop(x, out, thresh, config=tl.Config(BLOCK_M=16, BLOCK_K=8), backend=backend)
    sign = torch.where(torch.arange(Kd) // 8 < thresh, 1.0, -1.0).double()
    assert_close(out, (x.double() * sign).sum(1), "f32", reduction_len=Kd)


# ---- runtime-bounded tile loops ---------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@settings(max_examples=5)
@given(lengths=st.lists(st.integers(0, 40), min_size=1, max_size=5), D=SIZES, seed=st.integers(0, 1000))
def test_varlen_cu_seqlens(backend, dtype, lengths, D, seed):
    g = torch.Generator().manual_seed(seed)
    T = sum(lengths) + 3  # rows past the last sequence must not be read
    x = torch.randn(T, D, generator=g).to(TORCH_DTYPES[dtype])
    cu = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)), dtype=torch.int32)
    out = poisoned((len(lengths), D), TORCH_DTYPES[dtype])
    K.varlen_mean(x, cu, out, config=tl.Config(BLOCK_T=8, BLOCK_D=16), backend=backend)
    want = torch.stack([x[cu[i]:cu[i + 1]].double().mean(0) if lengths[i] else torch.zeros(D, dtype=torch.float64)
                        for i in range(len(lengths))])
    assert_close(out, want, dtype, reduction_len=max(lengths))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(M=SIZES, N=SIZES, lo=st.integers(-10, 60), hi=st.integers(-5, 80), seed=st.integers(0, 1000))
def test_nested_runtime_control(backend, M, N, lo, hi, seed):
    x = torch.randn(M, N, generator=torch.Generator().manual_seed(seed))
    out = poisoned((M,), torch.float32)
    K.nested_control(x, torch.tensor([lo, hi], dtype=torch.int32), out, config=tl.Config(BLOCK_M=16, BLOCK_N=8),
                     backend=backend)
    a = x.double()
    want = torch.zeros(M, dtype=torch.float64)
    if hi > lo:
        start = max(lo, 0)
        for i, b in enumerate(range(start, hi, 8)):
            part = a[:, b:min(b + 8, hi, N)].sum(1)
            want += part if i % 2 == 0 else (-part if i % 3 == 0 else 2 * part)
    else:
        want -= 1
    assert_close(out, want, "f32", reduction_len=N)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(S=st.integers(1, 70), seed=st.integers(0, 1000))
def test_causal_attention_skips_masked_key_blocks(backend, S, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(S, 16, generator=g) for _ in range(3))
    out = poisoned((S, 16), torch.float32)
    scale = 1 / math.sqrt(16)
    K.causal_attention(q, k, v, out, scale, config=tl.Config(BLOCK_M=16, BLOCK_N=16), backend=backend)
    want = torch.nn.functional.scaled_dot_product_attention(q.double()[None], k.double()[None], v.double()[None],
                                                            is_causal=True, scale=scale)[0]
    assert_close(out, want, "f32", reduction_len=S)


def test_causal_attention_key_loop_is_runtime_bounded():
    sig = {n: ArgSpec("tensor", "f32", 2) for n in ("q", "k", "v", "out")} | {"scale": ArgSpec("scalar", "f32")}
    k = final(K.causal_attention, sig, tl.Config(BLOCK_M=16, BLOCK_N=16))
    (loop,) = [s for s in stmts_of(k, ir.TileLoop) if not s.parallel]
    (t,) = loop.tiles
    assert t.is_runtime and t.lo == ir.Const(0, "i32") and isinstance(t.hi, ir.Var)
    assert "n in [0:i32, %" in print_kernel(k)


# ---- @tl.func ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(M=SIZES, Kd=SIZES, seed=st.integers(0, 1000))
def test_helpers_are_inlined(backend, M, Kd, seed):
    x = torch.randn(M, Kd, generator=torch.Generator().manual_seed(seed))
    out, totals = poisoned((M,), torch.float32), poisoned((M,), torch.float32)
    K.uses_helpers(x, out, totals, config=tl.Config(BLOCK_M=16, BLOCK_K=16), backend=backend)
    first = x[:, 0].double()
    assert_close(out, 7 * first + 1, "f32")
    assert_close(totals, x.double().sum(1), "f32", reduction_len=Kd)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(M=SIZES, Kd=SIZES, seed=st.integers(0, 1000))
def test_helper_loop_inside_a_same_named_loop(backend, M, Kd, seed):
    x = torch.randn(M, Kd, generator=torch.Generator().manual_seed(seed))
    out = poisoned((M,), torch.float32)
    K.helper_loop_in_same_named_loop(x, out, config=tl.Config(BLOCK_M=16, BLOCK_K=16), backend=backend)
    rows = x.double().sum(1)
    assert_close(out, rows * (-(-Kd // 16)) + rows, "f32", reduction_len=Kd * 4)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(M=SIZES, Kd=SIZES, T=st.integers(1, 6), s0=st.floats(-2, 2), seed=st.integers(0, 1000))
def test_parameters_reassigned_in_loops_are_carried(backend, M, Kd, T, s0, seed):
    a = torch.randn(M, Kd, generator=torch.Generator().manual_seed(seed))
    out, steps = poisoned((M,), torch.float32), poisoned((M, T), torch.float32)
    K.reassigned_in_loops(a, out, steps, s0, config=tl.Config(BLOCK_M=16), backend=backend)
    assert_close(steps, (torch.tensor(s0, dtype=torch.float32).double() + torch.arange(1, T + 1).double())
                 .expand(M, T), "f32")
    assert_close(out, 2 * a[:, 0].double() + (-(-Kd // 4)), "f32")


def test_helper_statements_point_at_the_helper():
    sig = {"x": ArgSpec("tensor", "f32", 2), "out": ArgSpec("tensor", "f32", 1),
           "totals": ArgSpec("tensor", "f32", 1)}
    k = K.uses_helpers.lower(sig)
    lines = K.__file__ and open(K.__file__).read().splitlines()
    helper_line = next(i for i, l in enumerate(lines, 1) if "x = x + x" in l)
    assert any(s.loc.line == helper_line and s.loc.file == K.__file__ for s in stmts_of(k, ir.Assign))


# ---- arange, reshape, slices ----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(M=SIZES, seed=st.integers(0, 1000))
def test_arange_reshape_slice(backend, M, seed):
    x = torch.randn(M, 16, generator=torch.Generator().manual_seed(seed))
    outs = [poisoned((M, 8), torch.float32) for _ in range(3)]
    K.shapes_kernel(x, *outs, config=tl.Config(BLOCK_M=16), backend=backend)
    a = x.double()
    assert_close(outs[0], a[:, 4:12] * 2, "f32")
    assert_close(outs[1], a[:, :8] + a[:, 8:], "f32")
    assert_close(outs[2], a[:, 4:12] + a[:, :8], "f32")


# ---- the text form round-trips every new node -------------------------------------------------------

SIGS = {
    "unrolled_poly": {"x": ("f32", 1), "out": ("f32", 1)},
    "scalar_branches": {"x": ("f32", 2), "flags": ("i32", 1), "out": ("f32", 2), "mode": ("i32", 0)},
    "branch_in_loop": {"x": ("f32", 2), "out": ("f32", 1), "thresh": ("i32", 0)},
    "varlen_mean": {"x": ("f16", 2), "cu_seqlens": ("i32", 1), "out": ("f16", 2)},
    "causal_attention": {"q": ("f32", 2), "k": ("f32", 2), "v": ("f32", 2), "out": ("f32", 2),
                         "scale": ("f32", 0)},
    "uses_helpers": {"x": ("f32", 2), "out": ("f32", 1), "totals": ("f32", 1)},
    "helper_loop_in_same_named_loop": {"x": ("f32", 2), "out": ("f32", 1)},
    "reassigned_in_loops": {"a": ("f32", 2), "out": ("f32", 1), "steps": ("f32", 2), "s": ("f32", 0)},
    "nested_control": {"x": ("f32", 2), "bounds": ("i32", 1), "out": ("f32", 1)},
    "shapes_kernel": {"x": ("f32", 2), "out_s": ("f32", 2), "out_r": ("f32", 2), "out_a": ("f32", 2)},
}


@pytest.mark.parametrize("name", sorted(SIGS))
def test_text_form_round_trips(name):
    sig = {p: ArgSpec("tensor", dt, r) if r else ArgSpec("scalar", dt) for p, (dt, r) in SIGS[name].items()}
    kernel = getattr(K, name)
    for k in (kernel.lower(sig), final(kernel, sig, backend="triton"), final(kernel, sig, backend="cpu")):
        text = print_kernel(k)
        back = parse(text)
        assert back == k
        assert print_kernel(back) == text


# ---- the generated Triton source is valid for real GPUs, not only for the interpreter -----------------

GPU_CASES = ["causal_attention", "varlen_mean", "scalar_branches", "nested_control", "shapes_kernel"]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["triton-cuda:sm_90", "triton-hip:gfx942"])
@pytest.mark.parametrize("name", GPU_CASES)
def test_control_flow_compiles_for_gpu(tmp_path, name, target):
    sig = {p: ArgSpec("tensor", dt, r) if r else ArgSpec("scalar", dt) for p, (dt, r) in SIGS[name].items()}
    be = backends.get("triton")
    kernel = getattr(K, name)
    wanted = set(ir.block_symbols(kernel.lower(sig)))
    tiles = {n: 16 for n in ("BLOCK_M", "BLOCK_N", "BLOCK_K", "BLOCK_T", "BLOCK_D") if n in wanted}
    k = final(kernel, sig, tl.Config(tiles), backend="triton")
    info = be.write_aot(k, target, tmp_path, "test")
    data = (tmp_path / info["files"][1]).read_bytes()
    assert data[:4] == b"\x7fELF" and info["symbol"].encode() in data


def test_walk_guarded_lists_control_dependences():
    sig = {p: ArgSpec("tensor", dt, r) for p, (dt, r) in SIGS["nested_control"].items()}
    k = K.nested_control.lower(sig)
    guards = {id(s): g for s, g in ir.walk_guarded(k.body)}
    (store,) = stmts_of(k, ir.Store)
    assert guards[id(store)] == ()
    ifs = stmts_of(k, ir.If)
    outer, inner, innermost = ifs[0], ifs[1], ifs[2]
    (loop,) = [s for s in stmts_of(k, ir.TileLoop) if not s.parallel]
    (t,) = loop.tiles
    deepest = innermost.then[-1]
    assert guards[id(deepest)] == (outer.cond, t.lo, t.hi, inner.cond, innermost.cond)


def test_fixed_size_decides_a_size_comparison_at_compile_time():
    sig = {p: ArgSpec("tensor", dt, r) if r else ArgSpec("scalar", dt) for p, (dt, r) in SIGS["scalar_branches"].items()}
    assert len(stmts_of(K.scalar_branches.lower(sig), ir.If)) == 3  # mode, flag, N > 40
    assert len(stmts_of(K.scalar_branches.lower(sig, {"N": 64}), ir.If)) == 2  # --shape N=64: decided


def test_report_shows_runtime_tiles_and_accesses_inside_branches(capsys):
    from tilelang.cli import main

    rc = main(["report", f"{K.__file__}::nested_control", "--dtype", "x=f32", "--dtype", "bounds=i32",
               "--dtype", "out=f32", "--rank", "bounds=1", "--rank", "out=1", "--config", "BLOCK_N=8"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "n (sequential): elements [%lo, %hi) (runtime bounds), block 8 -- BLOCK_N from the Config" in out
    assert "load x[m, n] dim 1: kept: a runtime-bounded tile" in out  # inside the `if`
    assert out.rstrip().endswith("result: accepted")


# ---- block sizes from constants; sizes carried through loops ------------------------------------


@tl.tile(constants=("B",))
def segment_double(x, starts, out, B):
    """out[r] = 2 * x[r] for the rows of each segment, one program per segment, rows B at a time."""
    (N,) = x.shape
    (S1,) = starts.shape
    for s in tl.tile(S1 - 1, block=1):
        for r in tl.tile(starts[s.id], starts[s.id + 1], block=B):  # block= a constant parameter
            out[r] = x[r] * 2


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(lengths=st.lists(st.integers(0, 20), min_size=1, max_size=6), block=st.sampled_from([1, 4, 8]),
       seed=st.integers(0, 1000))
def test_block_from_a_constant_parameter(backend, lengths, block, seed):
    x = torch.randn(sum(lengths) + 1, generator=torch.Generator().manual_seed(seed))
    starts = torch.tensor([0] + list(torch.tensor(lengths).cumsum(0)), dtype=torch.int32)
    out = poisoned(x.shape, x.dtype)
    segment_double(x, starts, out, block, backend=backend)
    assert_close(out[:-1], 2 * x[:-1].double(), "f32")
    assert torch.isnan(out[-1])  # past the last segment: not written
    runner = segment_double.specialize(x, starts, out, block, backend=backend)
    (inner,) = [t for s in stmts_of(runner.kernel, ir.TileLoop) for t in s.tiles if t.is_runtime]
    assert inner.block == block


@tl.tile
def first_positive(x, out):
    """out[m] = the index of the first x > 0, else N: a name bound to a size, then carried by a loop."""
    (N,) = x.shape
    (M,) = out.shape
    for m in tl.tile(M, block=1):
        best = N
        for n in tl.tile(N):
            best = tl.minimum(best, tl.min(tl.where(tl.load(x[n], other=-1.0) > 0, n.index, N), axis=0))
        out[m.id] = best


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(n=SIZES, seed=st.integers(0, 1000))
def test_size_bound_name_reassigned_in_a_loop_is_carried(backend, n, seed):
    x = torch.randn(n, generator=torch.Generator().manual_seed(seed)) - 1.5
    out = poisoned((2,), torch.int32)
    first_positive(x, out, config=tl.Config(BLOCK_N=16), backend=backend)
    hits = (x > 0).nonzero()
    assert out.tolist() == [int(hits[0]) if len(hits) else n] * 2
