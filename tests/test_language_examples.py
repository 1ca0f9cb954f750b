"""The examples of docs/language.md, run on every backend against torch float64."""

from __future__ import annotations

import pytest
import torch

import tilelang as tl

from conftest import BACKENDS, assert_close, poisoned


@tl.tile
def histogram(idx, weights, hist):
    (N,) = idx.shape
    for n in tl.tile(N):
        tl.atomic_add(hist[idx[n]], weights[n], mask=n.index < N)


@tl.tile
def row_cumsum(x, y):
    M, N = x.shape
    M, N = y.shape
    for m in tl.tile(M):                  # the scanned axis is whole: x[m, :]
        y[m, :] = tl.cumsum(x[m, :], axis=1)


@tl.tile
def dropout(x, out, seed, p):
    (N,) = x.shape
    for n in tl.tile(N):
        keep = tl.rand(seed, n.index) >= p
        out[n] = tl.where(keep, x[n] / (1 - p), 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_histogram(backend):
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 10, (1000,), generator=g, dtype=torch.int32)
    w = torch.rand(1000, generator=g)
    hist = torch.zeros(10)
    histogram(idx, w, hist, backend=backend)
    want = torch.zeros(10, dtype=torch.float64).index_add_(0, idx.long(), w.double())
    assert_close(hist, want, "f32", reduction_len=1000)


@pytest.mark.parametrize("backend", BACKENDS)
def test_row_cumsum(backend):
    x = torch.randn(5, 37, generator=torch.Generator().manual_seed(1))
    y = poisoned((5, 37), torch.float32)
    row_cumsum(x, y, backend=backend)
    assert_close(y, x.double().cumsum(1), "f32", reduction_len=37)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout(backend):
    x = torch.randn(1001, generator=torch.Generator().manual_seed(2))
    out = poisoned((1001,), torch.float32)
    dropout(x, out, 42, 0.25, backend=backend)
    from tilelang.ir.ops_random import rand_ref
    import numpy as np
    keep = torch.from_numpy(rand_ref(np.int32(42), np.arange(1001, dtype=np.int32)) >= np.float32(0.25))
    assert_close(out, torch.where(keep, x.double() / 0.75, 0.0), "f32")
    assert 0.2 < float((~keep).double().mean()) < 0.3


@tl.tile
def nan_scans(x, cmax, cmin):
    M, N = x.shape
    M, N = cmax.shape
    M, N = cmin.shape
    for m in tl.tile(M):
        cmax[m, :] = tl.cummax(x[m, :], axis=1)
        cmin[m, :] = tl.cummin(x[m, :], axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cummax_propagates_nan(backend):
    x = torch.tensor([[1.0, float("nan"), 3.0, -1.0], [2.0, -float("inf"), float("inf"), 0.0]])
    cmax, cmin = poisoned((2, 4), torch.float32), poisoned((2, 4), torch.float32)
    nan_scans(x, cmax, cmin, backend=backend)
    nan = float("nan")
    torch.testing.assert_close(cmax, torch.tensor([[1.0, nan, nan, nan], [2.0, 2.0, float("inf"), float("inf")]]),
                               equal_nan=True)
    torch.testing.assert_close(cmin, torch.tensor([[1.0, nan, nan, nan], [2.0, -float("inf"), -float("inf"),
                                                                          -float("inf")]]), equal_nan=True)
