"""Batched `@` on 3-D tiles: [B, M, K] @ [B, K, N] -> [B, M, N], one product per leading index."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import SoundnessError, TileLangError
from tilelang.ir.parser import parse
from tilelang.ir.printer import print_kernel

from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned


@tl.tile
def batched_matmul(a, b, c):
    B, M, K = a.shape
    B, K, N = b.shape
    B, M, N = c.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([B, m, n], tl.float32)      # the batch is taken whole in every program
        for k in tl.tile(K):
            acc += a[:, m, k] @ b[:, k, n]
        c[:, m, n] = acc.to(c.dtype)


@tl.tile
def batched_over_grid(a, b, c):
    B, M, K = a.shape
    B, K, N = b.shape
    B, M, N = c.shape
    for i, m, n in tl.tile([B, M, N]):             # the batch as a grid axis: fine, it is not contracted
        acc = tl.zeros([i, m, n], tl.float32)
        for k in tl.tile(K):
            acc += tl.dot(a[i, m, k], b[i, k, n])
        c[i, m, n] = acc


@tl.tile
def contraction_split(a, b, c):
    B, M, K = a.shape
    B, K, N = b.shape
    B, M, N = c.shape
    for m, n, k in tl.tile([M, N, K]):
        c[:, m, n] = a[:, m, k] @ b[:, k, n]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@settings(max_examples=4)
@given(B=st.integers(1, 5), M=st.integers(1, 40), N=st.integers(1, 40), K=st.integers(1, 40),
       seed=st.integers(0, 2**16))
def test_batched_matmul_random_shapes(backend, dtype, B, M, N, K, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(B, M, K, generator=g).to(TORCH_DTYPES[dtype])
    b = torch.randn(B, K, N, generator=g).to(TORCH_DTYPES[dtype])
    c = poisoned((B, M, N), TORCH_DTYPES[dtype])
    batched_matmul(a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), backend=backend)
    assert_close(c, a.double() @ b.double(), dtype, reduction_len=K)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_axis_in_the_grid(backend):
    a, b = torch.randn(6, 19, 23), torch.randn(6, 23, 17)
    c = poisoned((6, 19, 17), torch.float32)
    batched_over_grid(a, b, c, config=tl.Config(BLOCK_I=2, BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), backend=backend)
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=23)


def test_batched_dot_type_errors():
    @tl.tile
    def bad_batch(a, b, c):
        B, M, K = a.shape
        D, K, N = b.shape
        for m, n in tl.tile([M, N]):
            c[:, m, n] = a[:, m, :] @ b[:, :, n]

    with pytest.raises(TileLangError, match="batch sizes B and D differ"):
        bad_batch(torch.randn(2, 4, 5), torch.randn(3, 5, 6), torch.empty(2, 4, 6), backend="reference")

    @tl.tile
    def mixed_rank(a, b, c):
        B, M, K = a.shape
        K, N = b.shape
        for m, n in tl.tile([M, N]):
            c[:, m, n] = a[:, m, :] @ b[:, n]

    with pytest.raises(TileLangError, match="two 2-D tiles or two 3-D"):
        mixed_rank(torch.randn(2, 4, 5), torch.randn(5, 6), torch.empty(2, 4, 6), backend="reference")


def test_batched_contraction_split_across_programs_is_rejected():
    a, b, c = torch.randn(2, 8, 40), torch.randn(2, 40, 8), torch.empty(2, 8, 8)
    with pytest.raises(SoundnessError, match="the contraction of `@` reduces over grid tile `k`"):
        contraction_split(a, b, c, backend="reference")


def test_batched_dot_round_trips_through_the_ir_text():
    runner = batched_matmul.specialize(torch.randn(2, 8, 8), torch.randn(2, 8, 8), torch.empty(2, 8, 8),
                                       backend="reference")
    k = runner.kernel
    text = print_kernel(k)
    assert "dot" in text and parse(text) == k


# ---- the soundness checker follows grid tiles through reshapes factor by factor ------------------

@tl.tile
def sandwich(x, bmat, y):
    """y[t] = B x[t] B^T for 4x4 matrices, with the tiles' axis merged into a long one and split again."""
    (T16,) = x.shape
    (T, F) = y.shape
    for t in tl.tile(T):
        i = tl.arange(0, 4)
        bm = bmat[i[:, None] * 4 + i[None, :]]
        d = tl.load(x[t.index[None, None, :] * 16 + i[:, None, None] * 4 + i[None, :, None]],
                    mask=(t.index < T)[None, None, :])                                    # [4 (i), 4 (j), BT]
        w1 = bm @ d.reshape([4, 4 * t.size])                                              # [a, (j, t)]
        v = tl.broadcast_to(bm[None, :, :], [4, 4, 4]) @ w1.reshape([4, 4, t.size])       # [a, b, t]
        y[t, tl.arange(0, 16)] = v.reshape([16, t.size]).T


@tl.tile
def sandwich_interleaved(x, bmat, y):
    (T16,) = x.shape
    (T, F) = y.shape
    for t in tl.tile(T):
        i = tl.arange(0, 4)
        bm = bmat[i[:, None] * 4 + i[None, :]]
        d = tl.load(x[t.index[None, None, :] * 16 + i[:, None, None] * 4 + i[None, :, None]],
                    mask=(t.index < T)[None, None, :])
        z = d.reshape([4, 4 * t.size]).reshape([4, t.size, 4])    # the middle axis now mixes j and t
        v = (tl.zeros([4, 4, t], tl.float32) + 1.0) @ z            # so contracting it sums over t
        y[t, tl.arange(0, 16)] = tl.zeros([t, 16], tl.float32) + v[0:1, 0:1, 0:1].reshape([1, 1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reshape_that_splits_a_grid_tile_back_out_is_accepted(backend):
    g = torch.Generator().manual_seed(0)
    x, b = torch.randn(37, 4, 4, generator=g), torch.randn(4, 4, generator=g)
    y = poisoned((37, 16), torch.float32)
    sandwich(x.reshape(-1), b.reshape(-1), y, config=tl.Config(BLOCK_T=16), backend=backend)
    want = torch.einsum("ai,tij,bj->tab", b.double(), x.double(), b.double()).reshape(37, 16)
    assert_close(y, want, "f32", reduction_len=16)


def test_reshape_that_mixes_a_grid_tile_into_a_contraction_is_rejected():
    x, b, y = torch.randn(64 * 16), torch.randn(16), torch.empty(64, 16)
    with pytest.raises(SoundnessError, match="contraction of `@` reduces over grid tile `t`"):
        sandwich_interleaved(x, b, y, config=tl.Config(BLOCK_T=16), backend="reference")
