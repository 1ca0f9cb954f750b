"""Atomic stores (tl.atomic_add / atomic_max / atomic_min) on every backend against torch float64.

Atomics combine with what the tensor already holds, so outputs start from random values instead of
poison; duplicate indices inside one tile and many programs hitting one element must all count."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import TileLangError, TileTypeError, UnsupportedSyntaxError

from conftest import BACKENDS

TORCH = {"f32": torch.float32, "f64": torch.float64, "i32": torch.int32, "i64": torch.int64,
         "u32": torch.uint32, "u64": torch.uint64}


@tl.tile
def scatter_kernel(idx, w, hist, hmax, hmin):
    (N,) = idx.shape
    for n in tl.tile(N):
        i = idx[n]
        v = w[n]
        # lanes past the edge would scatter to idx's fill value 0: value indices are the kernel's to
        # mask (as for tl.store); elements equal to 3 are also left out, to test a user mask
        keep = (v != 3) & (n.index < N)
        tl.atomic_add(hist[i], v, mask=keep)
        tl.atomic_max(hmax[i], v, mask=keep)
        tl.atomic_min(hmin[i], v, mask=keep)


def _values(dtype, n, g):
    if dtype in ("u32", "u64"):
        return torch.randint(0, 9, (n,), generator=g).to(TORCH[dtype])
    if dtype in ("i32", "i64"):
        return torch.randint(-8, 9, (n,), generator=g).to(TORCH[dtype])
    return torch.randn(n, generator=g, dtype=torch.float64).to(TORCH[dtype]) * 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "i32", "u32", "f64", "i64", "u64"])
@settings(max_examples=4)
@given(n=st.integers(1, 90), bins=st.integers(1, 9), seed=st.integers(0, 10_000))
def test_scatter_with_duplicates(backend, dtype, n, bins, seed):
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
    scatter_kernel(idx, w, hist, hmax, hmin, config=tl.Config(BLOCK_N=16), backend=backend)
    exact = not dtype.startswith("f")
    for got, ref in zip((hist, hmax, hmin), want):
        if exact:
            assert torch.equal(got.to(torch.float64), ref), (got, ref)
        else:
            torch.testing.assert_close(got.double(), ref, rtol=1e-5 if dtype == "f32" else 1e-12, atol=1e-4)


@tl.tile
def total_kernel(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        tl.atomic_add(out[0], tl.sum(tl.load(x[n]), axis=0))


@tl.tile
def scatter2d_kernel(x, idx, out):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        # every element of row m goes to out[idx[m], n]: a 2-D scatter with a gathered row index
        tl.atomic_add(out[idx[m], n], tl.load(x[m, n]), mask=(m.index < M)[:, None])


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(m=st.integers(1, 40), n=st.integers(1, 40), rows=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_scatter_rows(backend, m, n, rows, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, n, generator=g)
    idx = torch.randint(0, rows, (m,), generator=g, dtype=torch.int32)
    out = torch.zeros(rows, n)
    scatter2d_kernel(x, idx, out, config=tl.Config(BLOCK_M=8, BLOCK_N=16), backend=backend)
    want = torch.zeros(rows, n, dtype=torch.float64).index_add_(0, idx.long(), x.double())
    torch.testing.assert_close(out.double(), want, rtol=1e-5, atol=1e-5 * m)


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_programs_one_element(backend):
    """The read-modify-write race: many programs add into out[0]; atomics make every run exact (ints)
    or right up to summation order (floats). 30 runs on the threaded cpu backend, fewer elsewhere."""
    runs = 30 if backend == "cpu" else 2
    g = torch.Generator().manual_seed(1)
    n = 4099  # 257 programs of 16
    xi = torch.randint(-1000, 1000, (n,), generator=g, dtype=torch.int32)
    xf = torch.randn(n, generator=g)
    for _ in range(runs):
        out = torch.zeros(1, dtype=torch.int32)
        total_kernel(xi, out, config=tl.Config(BLOCK_N=16), backend=backend)
        assert int(out[0]) == int(xi.long().sum())
        outf = torch.zeros(1)
        total_kernel(xf, outf, config=tl.Config(BLOCK_N=16), backend=backend)
        assert abs(float(outf[0]) - float(xf.double().sum())) < 1e-6 * n * float(xf.abs().max())


# ---- misuse ------------------------------------------------------------------------------------

@tl.tile
def augmented_store(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] += x[n]


@tl.tile
def atomic_f16(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        tl.atomic_add(out[n], x[n])


@tl.tile
def atomic_not_indexed(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        tl.atomic_max(out, x[n])


def test_augmented_store_names_atomics():
    with pytest.raises(UnsupportedSyntaxError) as info:
        augmented_store(torch.zeros(4), torch.zeros(4), backend="reference")
    msg = str(info.value)
    assert "tl.atomic_add" in msg and "race" in msg and "test_atomics.py" in msg and "out[n] += x[n]" in msg


def test_atomic_dtype_rejected():
    with pytest.raises(TileTypeError) as info:
        atomic_f16(torch.zeros(4, dtype=torch.float16), torch.zeros(4, dtype=torch.float16), backend="reference")
    assert "atomics support i32, i64, u32, u64, f32, f64" in str(info.value)
    assert "tl.atomic_add(out[n], x[n])" in str(info.value)


def test_atomic_needs_an_indexed_tensor():
    with pytest.raises(TileLangError) as info:
        atomic_not_indexed(torch.zeros(4), torch.zeros(4), backend="reference")
    assert "indexed tensor" in str(info.value)


def test_atomic_ir_text_round_trips():
    from tilelang.frontend.lower import ArgSpec
    from tilelang.ir.parser import parse
    from tilelang.ir.printer import print_kernel
    from tilelang.passes import PassContext, run_pipeline

    t1 = ArgSpec("tensor", "f32", 1)
    k = scatter_kernel.lower({"idx": ArgSpec("tensor", "i32", 1), "w": t1, "hist": t1, "hmax": t1, "hmin": t1})
    for kk in (k, run_pipeline(k, PassContext(pow2_tiles=True))):
        text = print_kernel(kk)
        assert "atomic_add" in text and "atomic_max" in text and "atomic_min" in text
        assert parse(text) == kk
