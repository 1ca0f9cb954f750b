"""The soundness checker (passes/soundness.py): kernels whose programs would compute partial results,
overwrite each other's stores or race are rejected at the user's line on every backend, before any
code is generated; the sound variants compile and compute the right answer."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang import backend as backends
from tilelang.errors import SoundnessError
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir
from tilelang.passes import PIPELINE, PassContext, run_pipeline
from tilelang.passes.soundness import analyze, check_soundness

import unsound_kernels as U
from conftest import BACKENDS, assert_close, poisoned

FILE = Path(U.__file__)
LINES = FILE.read_text().splitlines()
MARKERS = {n: re.search(r"# UNSOUND: (.*)$", l).group(1).strip()
           for n, l in enumerate(LINES, 1) if "# UNSOUND:" in l}

# kernel name -> argument shapes (all f32 unless noted); sizes are deliberately not tile multiples.
UNSOUND = {
    "rowsum_grid_tiled": [(4, 100), (4,)],
    "softmax_grid_tiled": [(5, 100), (5, 100)],
    "attention_grid_tiled_d": [(2, 9, 128)] * 4 + [0.1],
    "kmeans_grid_tiled_d": [(70, 128), (5, 128), ("i32", (70,))],
    "total_read_modify_write": [(1000,), (1,)],
    "store_ignores_grid_tile": [(1000,), (1,)],
    "reads_neighbours_output": [(1000,), (1000,)],
    "partial_through_loop_carry": [(100, 7), (3, 7)],
    "normalize_by_partial_sum": [(5, 100), (5, 100)],
    "two_stores_overlap": [(70, 70), (70, 70)],
}


def _args(spec):
    out = []
    for s in spec:
        if isinstance(s, float):
            out.append(s)
        elif s[0] == "i32":
            out.append(torch.zeros(s[1], dtype=torch.int32))
        else:
            out.append(torch.zeros(s))
    return out


def _marked_line(name: str) -> int:
    start = next(i for i, l in enumerate(LINES, 1) if l.startswith(f"def {name}("))
    return next(n for n in sorted(MARKERS) if n >= start)


def test_soundness_is_a_named_pipeline_step():
    assert [n for n, _ in PIPELINE][-1] == "soundness"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(UNSOUND))
def test_unsound_kernel_is_rejected_at_its_line(name, backend):
    line = _marked_line(name)
    with pytest.raises(SoundnessError) as info:
        getattr(U, name)(*_args(UNSOUND[name]), backend=backend)
    text = str(info.value)
    assert f"{FILE}:{line}:" in text, text
    assert MARKERS[line] in text.splitlines()[0], text  # in the message, not the quoted source line
    assert text.splitlines()[1].strip() == LINES[line - 1].strip()  # the user's line, then a caret
    assert text.splitlines()[2].strip() == "^"


def test_every_marked_kernel_is_tested():
    assert {n for n in UNSOUND} == {l.split("(")[0][4:] for n, l in enumerate(LINES, 1)
                                    if l.startswith("def ") and _has_marker_after(n)}


def _has_marker_after(def_line: int) -> bool:
    nxt = [i for i, l in enumerate(LINES, 1) if l.startswith("def ") and i > def_line]
    end = nxt[0] if nxt else len(LINES) + 1
    return any(def_line < m < end for m in MARKERS)


def _sig(*specs):
    return {k: ArgSpec("tensor", "f32", r) if isinstance(r, int) else ArgSpec("scalar", "f32")
            for k, r in specs}


ATTN_SIG = _sig(("q", 3), ("k", 3), ("v", 3), ("o", 3), ("scale", None))


def test_grid_tile_proven_whole_is_accepted():
    """BLOCK_D >= D proven from a fixed shape and the Config: one program along d, nothing partial."""
    kernel = U.attention_grid_tiled_d.lower(ATTN_SIG, {"D": 16})
    ok = run_pipeline(kernel, PassContext(config=tl.Config(BLOCK_D=16)))
    grid, findings = analyze(ok)
    assert grid["d"].single and "D == 16" in grid["d"].why
    assert all(f.ok for f in findings)
    with pytest.raises(SoundnessError, match="grid tile `d` \\(extent D, block 8\\)"):
        run_pipeline(kernel, PassContext(config=tl.Config(BLOCK_D=8)))
    with pytest.raises(SoundnessError, match="grid tile `d`"):  # BLOCK_D = D but D unknown: not proven
        run_pipeline(U.attention_grid_tiled_d.lower(ATTN_SIG), PassContext(config=tl.Config(BLOCK_D=16)))


def _with_atomic_stores(kernel: ir.Kernel) -> ir.Kernel:
    body = ir.map_body(kernel.body, lambda s: dataclasses.replace(s, atomic="add") if isinstance(s, ir.Store) else s)
    return dataclasses.replace(kernel, body=body)


def _final(kernel, sig):
    steps = dict(PIPELINE)
    k = kernel.lower(sig)
    ctx = PassContext()
    return steps["masking"](steps["tiling"](k, ctx), ctx)


def test_atomic_stores_are_exempt_from_the_store_rule_and_take_partial_results():
    sig = _sig(("x", 1), ("out", 1))
    shared = _final(U.store_ignores_grid_tile, sig)
    with pytest.raises(SoundnessError):
        check_soundness(shared, PassContext())
    check_soundness(_with_atomic_stores(shared), PassContext())
    # A partial sum per program combined by an atomic add (what `tl.atomic_add` will be for).
    rowsum = _final(U.rowsum_grid_tiled, _sig(("x", 2), ("out", 1)))
    with pytest.raises(SoundnessError, match="reduces over grid tile `n`"):
        check_soundness(rowsum, PassContext())
    _, findings = analyze(_with_atomic_stores(rowsum))
    assert all(f.ok for f in findings)
    assert any("combined across programs by the atomic store" in f.message for f in findings)
    # Atomics do not make reading the accumulated tensor safe.
    rmw = _with_atomic_stores(_final(U.total_read_modify_write, sig))
    with pytest.raises(SoundnessError, match="read-modify-write race"):
        check_soundness(rmw, PassContext())


def test_data_dependent_scatter_is_allowed():
    """Scatter through an index tensor: allowed, undefined where indices collide (documented)."""
    from kernels import scatter_rows_kernel

    sig = {"src": ArgSpec("tensor", "f32", 2), "idx": ArgSpec("tensor", "i32", 1), "out": ArgSpec("tensor", "f32", 2)}
    _, findings = analyze(_final(scatter_rows_kernel, sig))
    assert findings and all(f.ok for f in findings)


INT_DTYPES = {"out_b": "bool", "argmins": "i32", "assign": "i32", "idx": "i32", "rows": "i32"}


def test_stdlib_and_test_kernels_pass_the_checker():
    import kernels as K
    from tilelang.frontend.lower import shape_unpacks
    from tilelang.stdlib import conv, conv_winograd, matmul_kernel

    tk = [matmul_kernel] + [v for v in vars(conv).values() if isinstance(v, tl.TileKernel)]
    tk += [conv_winograd.winograd_filter_kernel]  # the fused kernel takes constants: test_conv runs it
    tk += [v for v in vars(K).values() if isinstance(v, tl.TileKernel)]
    assert len(tk) > 10
    for kernel in tk:
        ranks = {n: len(names) for n, names in shape_unpacks(kernel.src.tree).items()}
        for node in ast.walk(kernel.src.tree):  # tensors without a shape unpack: rank from an index
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                idx = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                ranks.setdefault(node.value.id, len(idx))
        dt = lambda n: "i32" if kernel.name == "int_math_kernel" else INT_DTYPES.get(n, "f32")  # noqa: E731
        sig = {n: ArgSpec("tensor", dt(n), ranks[n]) if n in ranks else ArgSpec("scalar", "i32")
               for n in kernel.param_names}
        lowered = kernel.lower(sig)
        fixed = {n: 37 for n in ir.whole_dim_symbols(lowered)}
        run_pipeline(kernel.lower(sig, fixed), PassContext(pow2_tiles=True))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(M=st.integers(1, 70), N=st.integers(1, 70), seed=st.integers(0, 1000))
def test_in_place_updates_are_accepted_and_right(backend, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g)
    out0 = torch.randn(M, N, generator=g)
    out = out0.clone()
    U.accumulate_in_place(x, out, backend=backend)
    assert_close(out, out0.double() * 2 + x.double(), "f32")
    out = out0.clone()
    U.per_head_in_place(x, out, backend=backend)
    assert_close(out, out0.double() + x.double().sum(dim=1, keepdim=True), "f32", reduction_len=N)


def test_backends_run_the_checker_before_code_generation():
    """The checker sits in the shared pipeline, so no backend can skip it."""
    for name in backends.names():
        assert backends.get(name) is not None
    assert "soundness" in dict(PIPELINE)


def test_scan_kind_ops_are_checked_like_reductions():
    """An op the registry declares with kind "scan" (a cumulative op along `axis`) over a grid tile is
    partial too; the checker needs no change when such ops are added."""
    from tilelang.errors import Loc
    from tilelang.ir.ops import OPS, declare
    from tilelang.ir.types import TensorType, ValueType, dim_symbol

    declare("test_cumsum", "cumulative sum along attr `axis` (test only)", 1, lambda ts, attrs: ts[0], None,
            kind="scan")
    try:
        loc = Loc("scan.py", 3, 4)
        N, t = dim_symbol("N"), ValueType("f32", (sympy_int(64),))
        params = tuple(ir.Param(n, TensorType("f32", (N,)), loc) for n in ("x", "out"))
        body = (ir.Assign("1", t, ir.Load("x", (ir.TileIndex("n"),)), loc),
                ir.Assign("2", t, ir.Op("test_cumsum", (ir.Var("1"),), (("axis", 0),)), loc),
                ir.Store("out", (ir.TileIndex("n"),), ir.Var("2"), loc=loc))
        kernel = ir.Kernel("scan", params, (ir.TileLoop((ir.TileVar("n", N, sympy_int(64)),), body, True, loc),),
                           loc=loc)
        with pytest.raises(SoundnessError, match="`test_cumsum` along axis 0 reduces over grid tile `n`"):
            check_soundness(kernel, PassContext())
        whole = dataclasses.replace(kernel, assumptions=(ir.Assumption("N", "eq", 50),))
        check_soundness(whole, PassContext())  # N == 50 <= 64: one program, the scan sees all of it
    finally:
        OPS.pop("test_cumsum", None)


def sympy_int(v):
    import sympy

    return sympy.Integer(v)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(M=st.integers(1, 40), N=st.integers(1, 70), seed=st.integers(0, 1000))
def test_partials_in_a_slot_per_program_are_accepted_and_right(backend, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g)
    tiles = -(-N // 16)
    partials = poisoned((M, tiles), torch.float32)
    U.two_stage_partials(x, partials, backend=backend)
    padded = torch.nn.functional.pad(x.double(), (0, tiles * 16 - N))
    assert_close(partials, padded.reshape(M, tiles, 16).sum(dim=2), "f32", reduction_len=16)


def test_reference_interpreter_catches_races_the_checker_cannot_see():
    """`out[n.id // 2]` mentions n (accepted statically) but two programs store each element; a scatter
    with colliding indices is undefined. The oracle raises on both, at the store."""
    x = torch.randn(10)
    with pytest.raises(tl.TileLangError, match="program 1 stores element \\(0,\\) of `out`, which program 0 stored"):
        U.two_programs_per_element(x, torch.zeros(5), backend="reference")
    src = torch.randn(40)
    unique = torch.randperm(40, generator=torch.Generator().manual_seed(0)).to(torch.int32)
    out = poisoned((40,), torch.float32)
    U.scatter_with_collisions(src, unique, out, config=tl.Config(BLOCK_G=8), backend="reference")
    assert torch.equal(out[unique.long()], src)
    colliding = torch.zeros(40, dtype=torch.int32)
    with pytest.raises(tl.TileLangError, match="which program 0 stored: the result depends on the order"):
        U.scatter_with_collisions(src, colliding, torch.zeros(40), config=tl.Config(BLOCK_G=8), backend="reference")


def test_stores_through_runtime_tiles_bounded_by_a_grid_tile_are_accepted():
    """`for r in tl.tile(starts[p.id], starts[p.id + 1])`: r's rows depend on p, so a store indexed by r
    is made by one program along p (a scatter, like `out[idx[p]]`); bounds that do not depend on p
    still make every program along p write the same rows."""

    @tl.tile
    def by_segment(x, starts, out):
        (N,) = x.shape
        (S1,) = starts.shape
        for s in tl.tile(S1 - 1, block=1):
            for r in tl.tile(starts[s.id], starts[s.id + 1]):
                out[r] = x[r] + 1

    @tl.tile
    def same_rows(x, n, out):
        (N,) = x.shape
        (S,) = out.shape
        for s in tl.tile(S, block=1):
            for r in tl.tile(0, n):
                out[r] = x[r] + 1

    sig = {"x": ArgSpec("tensor", "f32", 1), "starts": ArgSpec("tensor", "i32", 1), "out": ArgSpec("tensor", "f32", 1)}
    _, findings = analyze(_final(by_segment, sig))
    assert findings and all(f.ok for f in findings)
    sig = {"x": ArgSpec("tensor", "f32", 1), "n": ArgSpec("scalar", "i32"), "out": ArgSpec("tensor", "f32", 1)}
    with pytest.raises(SoundnessError, match="does not depend on grid tile `s`"):
        check_soundness(_final(same_rows, sig), PassContext())
