"""Reductions ignore a tile's padded positions (past its extent) on every backend: the load's fill
value never reaches a max/min/argmax/argmin/sum, whether the tile is partial or a whole dimension
padded to a power of two (Triton)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir

from conftest import BACKENDS, poisoned


@tl.tile
def row_stats(x, mx, mn, amx, amn, sm):
    M, N = x.shape
    for m in tl.tile(M):
        mx[m] = tl.max(x[m, :], axis=1)
        mn[m] = tl.min(x[m, :], axis=1)
        amx[m] = tl.argmax(x[m, :], axis=1)
        amn[m] = tl.argmin(x[m, :], axis=1)
        sm[m] = tl.sum(x[m, :], axis=1)


@tl.tile
def col_max_tiled(x, out):
    M, N = x.shape
    for n in tl.tile(N):
        acc = tl.full([n], float("-inf"), tl.float32)
        for m in tl.tile(M):
            acc = tl.maximum(acc, tl.max(x[m, n], axis=0))  # axis 0: padded rows of the last m tile
        out[n] = acc


@tl.tile
def gathered_row_min(x, idx, out):
    (G,) = idx.shape
    R, D = x.shape
    for d in tl.tile(D):
        acc = tl.full([d], float("inf"), tl.float32)
        for g in tl.tile(G):
            rows = idx[g]                 # padded positions of g gather row 0: real data
            acc = tl.minimum(acc, tl.min(x[rows, d], axis=0))
        out[d] = acc


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(M=st.integers(1, 20), N=st.integers(1, 37), seed=st.integers(0, 1000))
def test_whole_row_reductions_ignore_padding(backend, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = -torch.rand(M, N, generator=g) - 1.0  # all negative: a leaked 0 fill would be the max
    outs = [poisoned((M,), torch.float32), poisoned((M,), torch.float32), poisoned((M,), torch.int32),
            poisoned((M,), torch.int32), poisoned((M,), torch.float32)]
    row_stats(x, *outs, backend=backend)
    x64 = x.double()
    torch.testing.assert_close(outs[0].double(), x64.max(1).values)
    torch.testing.assert_close(outs[1].double(), x64.min(1).values)
    assert torch.equal(outs[2].long(), x64.argmax(1))
    assert torch.equal(outs[3].long(), x64.argmin(1))
    torch.testing.assert_close(outs[4].double(), x64.sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(M=st.integers(1, 40), N=st.integers(1, 40), seed=st.integers(0, 1000))
def test_partial_sequential_tile_max(backend, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = -torch.rand(M, N, generator=g) - 1.0
    out = poisoned((N,), torch.float32)
    col_max_tiled(x, out, config=tl.Config(BLOCK_M=16, BLOCK_N=8), backend=backend)
    torch.testing.assert_close(out.double(), x.double().max(0).values)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(R=st.integers(2, 30), D=st.integers(1, 20), G=st.integers(1, 30), seed=st.integers(0, 1000))
def test_gathered_rows_min_ignores_padding(backend, R, D, G, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(R, D, generator=g)
    x[0] = -5.0  # row 0 is what a padded gather position would read
    idx = torch.randint(1, R, (G,), generator=g, dtype=torch.int32)
    out = poisoned((D,), torch.float32)
    gathered_row_min(x, idx, out, config=tl.Config(BLOCK_G=16, BLOCK_D=8), backend=backend)
    torch.testing.assert_close(out.double(), x.double()[idx.long()].min(0).values)


def _final(kernel, sig, config, fixed=None):
    from tilelang import backend as backends
    return kernel.final_ir(sig, config, backends.get("reference"), fixed)


def _wheres(k: ir.Kernel) -> int:
    return sum(1 for s in ir.walk(k.body) if isinstance(s, ir.Assign) and isinstance(s.value, ir.Op)
               and s.value.name == "where")


def test_no_mask_where_the_tile_divides_the_extent():
    sig = {"x": ArgSpec("tensor", "f32", 2), "out": ArgSpec("tensor", "f32", 1)}
    cfg = tl.Config(BLOCK_M=16, BLOCK_N=8)
    assert _wheres(_final(col_max_tiled, sig, cfg)) == 1
    assert _wheres(_final(col_max_tiled, sig, cfg, {"M": 64})) == 0  # 64 % 16 == 0: proven, no padding


@tl.tile
def carried_sum(x, out):
    M, N = x.shape
    for m in tl.tile(M):
        acc = tl.zeros([m, 8], tl.float32)
        for n in tl.tile(N, block=8):
            acc += x[m, n]
            out[m] = tl.sum(acc, axis=1)  # acc's padded lanes hold real data from earlier tiles


def test_loop_carried_values_are_left_alone():
    sig = {"x": ArgSpec("tensor", "f32", 2), "out": ArgSpec("tensor", "f32", 1)}
    assert _wheres(_final(carried_sum, sig, tl.Config(BLOCK_M=4))) == 0


@tl.tile
def scatter_rows_unmasked(src, idx, out):
    """out[idx[g]] = src[g] with no mask of the user's: padded positions of g must not store."""
    G, D = src.shape
    (G,) = idx.shape
    R, D = out.shape
    for g, d in tl.tile([G, D]):
        out[idx[g], d] = src[g, d]


@tl.tile
def gathered_contraction(p, v, idx, out):
    """out = p @ v[idx]: the contraction runs over gathered rows; padded ones must contribute 0."""
    M, G = p.shape
    (G,) = idx.shape
    R, D = v.shape
    M, D = out.shape
    for m, d in tl.tile([M, D]):
        acc = tl.zeros([m, d], tl.float32)
        for g in tl.tile(G):
            rows = idx[g]
            acc += tl.load(p[m, g], other=1.0) @ v[rows, d]  # p's padded positions are 1, not 0
        out[m, d] = acc


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(G=st.integers(1, 30), D=st.integers(1, 12), seed=st.integers(0, 1000))
def test_scatter_skips_padded_index_positions(backend, G, D, seed):
    g = torch.Generator().manual_seed(seed)
    R = G + 3
    idx = (torch.randperm(R, generator=g)[:G] ).to(torch.int32)
    src = torch.rand(G, D, generator=g) + 1.0
    out = torch.full((R, D), -7.0)  # rows nobody scatters to keep -7
    scatter_rows_unmasked(src, idx, out, config=tl.Config(BLOCK_G=8, BLOCK_D=8), backend=backend)
    expected = torch.full((R, D), -7.0)
    expected[idx.long()] = src
    assert torch.equal(out, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(M=st.integers(1, 20), G=st.integers(1, 30), D=st.integers(1, 12), seed=st.integers(0, 1000))
def test_gathered_contraction_ignores_padded_rows(backend, M, G, D, seed):
    g = torch.Generator().manual_seed(seed)
    R = G + 2
    p, v = torch.rand(M, G, generator=g), torch.rand(R, D, generator=g)
    v[0] = 100.0  # what a padded gather position would read
    idx = torch.randint(1, R, (G,), generator=g, dtype=torch.int32)
    out = poisoned((M, D), torch.float32)
    gathered_contraction(p, v, idx, out, config=tl.Config(BLOCK_M=8, BLOCK_D=8, BLOCK_G=16), backend=backend)
    torch.testing.assert_close(out.double(), p.double() @ v.double()[idx.long()], rtol=1e-5, atol=1e-5)
