"""Grouped program order: the launch index -> grid tile map is a bijection, every backend renders
it and computes the same answer as in row-major order."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import TileLangError
from tilelang.ir import nodes as ir
from tilelang.ir.parser import parse
from tilelang.ir.printer import print_kernel
from tilelang.ir.program_order import is_bijection, tile_ids
from tilelang.stdlib import matmul_kernel

from conftest import BACKENDS, assert_close, poisoned


@tl.tile
def grouped_gemm(a, b, c):
    M, K = a.shape
    K, N = b.shape
    M, N = c.shape
    for m, n in tl.tile([M, N], order="grouped"):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = (acc + m.index[:, None] * 0.0 + n.index[None, :] * 0.0).to(c.dtype)


@tl.tile
def grid3(x, out):
    A, B, C = x.shape
    A, B, C = out.shape
    for i, j, k in tl.tile([A, B, C], block=[2, 4, 8]):
        out[i, j, k] = x[i, j, k] * 3.0 + (i.index[:, None, None] * 1000 + j.index[None, :, None] * 10).to(tl.float32)


def test_grouped_order_is_a_bijection_on_every_small_grid():
    for rows, cols, group in itertools.product(range(1, 10), range(1, 10), range(1, 11)):
        assert is_bijection((rows, cols), "grouped", group), (rows, cols, group)
    for counts in itertools.product(range(1, 5), repeat=3):
        for group in (1, 2, 3, 8):
            assert is_bijection(counts, "grouped", group), (counts, group)
            assert is_bijection(counts, "row")


def test_grouped_order_walks_a_band_column_by_column():
    # 5 x 3 grid, GROUP_M=2: rows {0,1} column by column, then {2,3}, then the short band {4}
    order = [tile_ids(p, (5, 3), "grouped", 2) for p in range(15)]
    assert order[:6] == [(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]
    assert order[12:] == [(4, 0), (4, 1), (4, 2)]
    assert [tile_ids(p, (3, 4), "row") for p in range(5)] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]


def _sig():
    from tilelang.frontend.lower import ArgSpec

    return {n: ArgSpec("tensor", "f32", 2) for n in "abc"}


def test_order_in_ir_text_round_trips_and_the_pass_binds_group():
    from tilelang import backend as backends

    k = grouped_gemm.lower(_sig())
    assert k.grid_loop.order == "grouped" and k.grid_loop.group == 0
    assert "tile parallel grouped (" in print_kernel(k)
    assert parse(print_kernel(k)) == k
    be = backends.get("reference")
    final = grouped_gemm.final_ir(_sig(), tl.Config(group_m=3), be)
    assert (final.grid_loop.order, final.grid_loop.group) == ("grouped", 3)
    assert "tile parallel grouped 3 (" in print_kernel(final) and parse(print_kernel(final)) == final
    assert grouped_gemm.final_ir(_sig(), tl.Config(), be).grid_loop.group == 8  # the default GROUP_M
    # group_m in a Config puts any 2-D grid in grouped order; a 1-D grid keeps row order
    plain = matmul_kernel.final_ir(_sig(), tl.Config(group_m=4), be)
    assert (plain.grid_loop.order, plain.grid_loop.group) == ("grouped", 4)
    assert matmul_kernel.final_ir(_sig(), tl.Config(), be).grid_loop.order == "row"


def test_verifier_and_frontend_reject_bad_orders():
    from tilelang.ir.verifier import verify

    k = grouped_gemm.lower(_sig())
    g = k.grid_loop
    bad = ir.Kernel(k.name, k.params, (ir.TileLoop(g.tiles, g.body, True, g.loc, "zigzag", 0),), k.assumptions)
    with pytest.raises(TileLangError, match="unknown program order"):
        verify(bad)
    bad = ir.Kernel(k.name, k.params, (ir.TileLoop(g.tiles, g.body, True, g.loc, "row", 4),), k.assumptions)
    with pytest.raises(TileLangError, match="needs order grouped"):
        verify(bad)

    @tl.tile
    def seq_order(a, b, c):
        M, K = a.shape
        K, N = b.shape
        M, N = c.shape
        for m, n in tl.tile([M, N]):
            acc = tl.zeros([m, n], tl.float32)
            for k in tl.tile(K, order="grouped"):
                acc += a[m, k] @ b[k, n]
            c[m, n] = acc
    with pytest.raises(TileLangError, match="launch grid") as e:
        seq_order(torch.zeros(4, 4), torch.zeros(4, 4), torch.zeros(4, 4), backend="reference")
    assert "test_program_order.py" in str(e.value)


SIZES = st.one_of(st.sampled_from([1, 5, 17, 33, 47]), st.integers(1, 80))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(M=SIZES, N=SIZES, K=SIZES, group=st.sampled_from([0, 1, 2, 3, 5]), seed=st.integers(0, 2**16))
def test_grouped_gemm_matches_torch_on_every_backend(backend, M, N, K, group, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(M, K, generator=g), torch.randn(K, N, generator=g)
    c = poisoned((M, N), torch.float32)
    grouped_gemm(a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, group_m=group), backend=backend)
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=K)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("group", [1, 2, 3])
def test_group_m_on_a_3d_grid_matches_torch(backend, group):
    x = torch.randn(7, 9, 19)
    out = poisoned((7, 9, 19), torch.float32)
    grid3(x, out, config=tl.Config(group_m=group), backend=backend)
    i = torch.arange(7).double()[:, None, None] * 1000
    j = torch.arange(9).double()[None, :, None] * 10
    assert_close(out, x.double() * 3 + i + j, "f32")


def test_backends_render_the_grouped_formula():
    from tilelang import backend as backends
    from tilelang.backends import triton as triton_backend
    from tilelang.backends.cpu import llvm_ir, to_program

    final = grouped_gemm.final_ir(_sig(), tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, group_m=4),
                                  backends.get("cpu"))
    src = triton_backend.render_source(final)
    assert "tl_grp_rows = tl.minimum(" in src and "tl_grp_width = 4 *" in src
    prog = to_program(final)
    assert prog.grid_group == 4
    text, _ = llvm_ir(prog)
    assert "select" in text
