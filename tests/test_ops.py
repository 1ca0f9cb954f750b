"""Tile ops across kernels: every backend that runs here against an independent torch float64 reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl

from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned
from kernels import (add_kernel, causal_mask_kernel, elementwise_kernel, gather_rows_kernel, int_math_kernel,
                     row_reduce_kernel, softmax_kernel)

SIZES = st.one_of(st.sampled_from([1, 2, 3, 7, 16, 17, 31, 65]), st.integers(1, 90))
CFG16 = tl.Config(BLOCK_M=16, BLOCK_N=16)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=10)
@given(n=st.integers(1, 300))
def test_add(backend, n):
    x, y = torch.randn(n), torch.randn(n)
    out = poisoned((n,), torch.float32)
    add_kernel(x, y, out, backend=backend)
    assert_close(out, x.double() + y.double(), "f32")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=5)
@given(M=SIZES, N=SIZES, seed=st.integers(0, 1000))
def test_softmax(backend, dtype, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(M, N, generator=g) * 3).to(TORCH_DTYPES[dtype])
    out = poisoned((M, N), TORCH_DTYPES[dtype])
    softmax_kernel(x, out, config=tl.Config(BLOCK_M=16, BLOCK_N=16), backend=backend)
    assert_close(out, torch.softmax(x.double(), dim=1), dtype, reduction_len=N)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@settings(max_examples=5)
@given(M=SIZES, N=SIZES, seed=st.integers(0, 1000))
def test_elementwise(backend, dtype, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g).to(TORCH_DTYPES[dtype])
    y = torch.randn(M, N, generator=g).to(TORCH_DTYPES[dtype])
    out_f = poisoned((M, N), TORCH_DTYPES[dtype])
    out_b = torch.zeros((M, N), dtype=torch.bool)
    elementwise_kernel(x, y, out_f, out_b, 0.75, config=CFG16, backend=backend)
    a, b = x.double(), y.double()
    r = torch.where(a > b, a.abs().sqrt() * 0.75, torch.exp(-b * b) - 1.5)
    r = torch.maximum(r, torch.minimum(a, b)) + torch.sigmoid(a) * torch.log(1.0 + b * b)
    assert_close(out_f, r, dtype, reduction_len=4)
    assert torch.equal(out_b, (a < 0) | (b >= 1))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(M=SIZES, N=st.integers(1, 200), seed=st.integers(0, 1000))
def test_row_reductions(backend, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g)
    sums, maxes = poisoned((M,), torch.float32), poisoned((M,), torch.float32)
    argmins = poisoned((M,), torch.int32)
    # One N tile of 64 at a time: the kernel's per-tile results are checked on the last tile.
    row_reduce_kernel(x, sums, maxes, argmins, config=tl.Config(BLOCK_M=16), backend=backend)
    last = ((N - 1) // 64) * 64
    tail = x[:, last:].double()
    assert_close(sums, tail.sum(dim=1), "f32", reduction_len=64)
    assert_close(maxes, tail.max(dim=1).values, "f32")
    assert torch.equal(argmins.long(), tail.argmin(dim=1) + last)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(M=SIZES, N=SIZES)
def test_causal_mask_from_tile_indices(backend, M, N):
    s = torch.randn(M, N)
    out = poisoned((M, N), torch.float32)
    causal_mask_kernel(s, out, config=CFG16, backend=backend)
    assert_close(out, torch.tril(s.double()), "f32")


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=6)
@given(R=st.integers(1, 40), D=SIZES, G=st.integers(1, 50), seed=st.integers(0, 1000))
def test_gather_rows(backend, R, D, G, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(R, D, generator=g)
    idx = torch.randint(0, R, (G,), generator=g, dtype=torch.int32)
    out = poisoned((G, D), torch.float32)
    gather_rows_kernel(x, idx, out, config=tl.Config(BLOCK_G=16, BLOCK_D=16), backend=backend)
    assert_close(out, x.double()[idx.long()], "f32")


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_floor_division_and_modulo_follow_python(backend):
    x = torch.tensor([-7, -6, -1, 0, 1, 5, 7, 9, -9, 100], dtype=torch.int32)
    y = torch.tensor([2, -4, 3, 5, -3, 5, 2, -2, -4, 7], dtype=torch.int32)
    q, r = poisoned((10,), torch.int32), poisoned((10,), torch.int32)
    int_math_kernel(x, y, q, r, backend=backend)
    assert q.tolist() == [a // b for a, b in zip(x.tolist(), y.tolist())]
    assert r.tolist() == [a % b for a, b in zip(x.tolist(), y.tolist())]


def test_reference_rejects_out_of_range_gather():
    x = torch.randn(4, 8)
    idx = torch.tensor([0, 9], dtype=torch.int32)
    out = poisoned((2, 8), torch.float32)
    with pytest.raises(tl.TileLangError, match="out of range for dimension 0 of `x`"):
        gather_rows_kernel(x, idx, out, backend="reference")
