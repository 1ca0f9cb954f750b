"""Scans (cumsum / cumprod / cummax / cummin), tl.sort and tl.topk on every backend against torch
float64 (values) and a stable torch sort (order), with rows that are not multiples of the tile."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import TileLangError

from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned

CFG = tl.Config(BLOCK_M=4)  # rows per program; the scanned / sorted axis is whole (x[m, :])
TORCH = dict(TORCH_DTYPES, i32=torch.int32, u8=torch.uint8)


@tl.tile
def scans_kernel(x, csum, cprod, cmax, cmin):
    M, N = x.shape
    M, N = csum.shape  # the same names: the outputs' shapes must equal x's
    M, N = cprod.shape
    M, N = cmax.shape
    M, N = cmin.shape
    for m in tl.tile(M):
        t = x[m, :]
        csum[m, :] = tl.cumsum(t, axis=1)
        cprod[m, :] = tl.cumprod(t, axis=1)
        cmax[m, :] = tl.cummax(t, axis=1)
        cmin[m, :] = tl.cummin(t, axis=1)


@tl.tile
def col_cumsum_kernel(x, out):
    M, N = x.shape
    M, N = out.shape
    for n in tl.tile(N):
        out[:, n] = tl.cumsum(x[:, n], axis=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=4)
@given(M=st.integers(1, 11), N=st.integers(1, 16), seed=st.integers(0, 10_000))
def test_float_scans(backend, dtype, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    # values in [0.5, 1.5): products of up to 16 of them stay well inside every dtype's range
    x = (torch.rand(M, N, generator=g) + 0.5).to(TORCH[dtype])
    acc = "f32"
    outs = [poisoned((M, N), torch.float32), poisoned((M, N), torch.float32),
            poisoned((M, N), TORCH[dtype]), poisoned((M, N), TORCH[dtype])]
    scans_kernel(x, *outs, config=CFG, backend=backend)
    xd = x.double()
    assert_close(outs[0], xd.cumsum(1), acc, reduction_len=N)
    assert_close(outs[1], xd.cumprod(1), acc, reduction_len=N)
    assert torch.equal(outs[2].double(), xd.cummax(1).values)
    assert torch.equal(outs[3].double(), xd.cummin(1).values)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(M=st.integers(1, 11), N=st.integers(1, 16), seed=st.integers(0, 10_000))
def test_int_scans(backend, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-3, 4, (M, N), generator=g, dtype=torch.int32)
    outs = [poisoned((M, N), torch.int32) for _ in range(4)]
    scans_kernel(x, *outs, config=CFG, backend=backend)
    xl = x.long()
    assert torch.equal(outs[0].long(), xl.cumsum(1))
    prod = xl.cumprod(1)  # |x| <= 3, 16 factors: fits in i32 (3**16 < 2**31)
    assert torch.equal(outs[1].long(), prod)
    assert torch.equal(outs[2].long(), xl.cummax(1).values)
    assert torch.equal(outs[3].long(), xl.cummin(1).values)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(M=st.integers(1, 4), N=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_scan_along_axis0_of_a_whole_dimension(backend, M, N, seed):
    x = torch.randn(M, N, generator=torch.Generator().manual_seed(seed))
    out = poisoned((M, N), torch.float32)
    col_cumsum_kernel(x, out, config=tl.Config(BLOCK_N=16), backend=backend)
    assert_close(out, x.double().cumsum(0), "f32", reduction_len=M)


# ---- sort / top-k ---------------------------------------------------------------------------------

K = 4


@tl.tile
def sort_kernel(x, asc, desc, top_v, top_i):
    M, N = x.shape
    M, N = asc.shape
    M, N = desc.shape
    for m in tl.tile(M):
        # lanes past the row's end (Triton pads whole rows to a power of two) hold the fill value: NaN
        # (the largest value; ties keep their order, so real NaNs stay first) sorts them last
        # ascending, -inf last descending
        asc[m, :] = tl.sort(tl.load(x[m, :], other=float("nan")), axis=1)
        low = tl.load(x[m, :], other=-float("inf"))
        desc[m, :] = tl.sort(low, axis=1, descending=True)
        v, i = tl.topk(low, K, axis=1)
        for k in tl.tile(K, block=[4]):
            top_v[m, k] = v
            top_i[m, k] = i


@tl.tile
def sort_int_kernel(x, asc, top_v, top_i):
    M, N = x.shape
    M, N = asc.shape
    for m in tl.tile(M):
        asc[m, :] = tl.sort(tl.load(x[m, :], other=2147483647), axis=1)
        v, i = tl.topk(tl.load(x[m, :], other=-2147483648), K, axis=1)
        for k in tl.tile(K, block=[4]):
            top_v[m, k] = v
            top_i[m, k] = i


def _stable(x, descending):
    return torch.sort(x, dim=1, descending=descending, stable=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@settings(max_examples=4)
@given(M=st.integers(1, 11), N=st.integers(K, 16), seed=st.integers(0, 10_000))
def test_sort_and_topk(backend, dtype, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    # few distinct values, so ties are common and the stable order is tested
    x = (torch.randint(-4, 5, (M, N), generator=g) * 0.5).to(TORCH[dtype])
    asc, desc = poisoned((M, N), TORCH[dtype]), poisoned((M, N), TORCH[dtype])
    top_v, top_i = poisoned((M, K), TORCH[dtype]), poisoned((M, K), torch.int32)
    sort_kernel(x, asc, desc, top_v, top_i, config=CFG, backend=backend)
    assert torch.equal(asc, _stable(x, False).values)
    assert torch.equal(desc, _stable(x, True).values)
    want = _stable(x, True)
    assert torch.equal(top_v, want.values[:, :K])
    assert torch.equal(top_i.long(), want.indices[:, :K])


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(M=st.integers(1, 11), N=st.integers(K, 16), seed=st.integers(0, 10_000))
def test_sort_ints(backend, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-2**31, 2**31, (M, N), generator=g, dtype=torch.int64).to(torch.int32)
    x[:, 0] = x[:, -1]  # a tie
    asc = poisoned((M, N), torch.int32)
    top_v, top_i = poisoned((M, K), torch.int32), poisoned((M, K), torch.int32)
    sort_int_kernel(x, asc, top_v, top_i, config=CFG, backend=backend)
    assert torch.equal(asc, _stable(x, False).values)
    want = _stable(x, True)
    assert torch.equal(top_v, want.values[:, :K])
    assert torch.equal(top_i.long(), want.indices[:, :K])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sort_special_floats(backend):
    """The documented total order: -inf < ... < -0.0 < +0.0 < ... < inf < NaN, stable."""
    row = [0.0, float("nan"), -0.0, 1.0, -float("inf"), float("inf"), -0.0, float("nan"), -1.0, 0.0]
    x = torch.tensor([row, row[::-1]])
    N = x.shape[1]
    asc, desc = poisoned((2, N), torch.float32), poisoned((2, N), torch.float32)
    top_v, top_i = poisoned((2, K), torch.float32), poisoned((2, K), torch.int32)
    sort_kernel(x, asc, desc, top_v, top_i, config=CFG, backend=backend)

    def key(v):  # an independent statement of the order: (NaN last, value, -0.0 before +0.0)
        return (math.isnan(v), 0.0 if math.isnan(v) else v, math.copysign(1.0, v))

    for r in range(2):
        vals = x[r].tolist()
        order = sorted(range(N), key=lambda i: (key(vals[i]), i))
        want = torch.tensor([vals[i] for i in order])
        got = asc[r]
        assert torch.equal(torch.isnan(got), torch.isnan(want))
        ok = ~torch.isnan(want)
        assert torch.equal(got[ok], want[ok]) and torch.equal(torch.signbit(got[ok]), torch.signbit(want[ok]))
        dorder = sorted(range(N), key=lambda i: (tuple(-k for k in key(vals[i])), i))
        assert top_i[r].tolist() == dorder[:K]
        dwant = torch.tensor([vals[i] for i in dorder])
        assert torch.equal(torch.signbit(desc[r]), torch.signbit(dwant))


# ---- misuse ----------------------------------------------------------------------------------------

@tl.tile
def topk_too_big(x, out):
    (N,) = x.shape
    for n in tl.tile(N, block=[8]):
        v, i = tl.topk(x[n], 9)
        out[n] = x[n]


@tl.tile
def topk_not_unpacked(x, out):
    (N,) = x.shape
    for n in tl.tile(N, block=[8]):
        out[n] = tl.topk(x[n], 8)


@tl.tile
def scan_without_axis(x, out):
    M, N = x.shape
    M, N = out.shape
    for m in tl.tile(M):
        out[m, :] = tl.cumsum(x[m, :])


@tl.tile
def sort_bool(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = tl.sort(x[n] > 0).to(tl.float32)


@pytest.mark.parametrize("kernel, rank, message", [
    (topk_too_big, 1, "needs 1 <= k <= 8"),
    (topk_not_unpacked, 1, "unpack it"),
    (scan_without_axis, 2, "needs `axis=`"),
    (sort_bool, 1, "needs a number tile, got bool"),
])
def test_misuse(kernel, rank, message):
    shape = (8,) * rank
    with pytest.raises(TileLangError) as info:
        kernel(torch.zeros(shape), torch.zeros(shape), backend="reference")
    assert message in str(info.value)
    assert "test_scans_sort.py" in str(info.value)


def test_sort_ir_text_round_trips():
    from tilelang.frontend.lower import ArgSpec
    from tilelang.ir.parser import parse
    from tilelang.ir.printer import print_kernel
    from tilelang.passes import PassContext, run_pipeline

    t2 = ArgSpec("tensor", "f32", 2)
    whole = {"N": 50}  # the sorted / scanned axis is whole: compiled for a concrete size
    k = sort_kernel.lower({"x": t2, "asc": t2, "desc": t2, "top_v": t2, "top_i": ArgSpec("tensor", "i32", 2)},
                          whole)
    k2 = scans_kernel.lower({n: t2 for n in ("x", "csum", "cprod", "cmax", "cmin")}, whole)
    # (sort_kernel loads with other=nan: NaN constants compare equal, see ir.Const)
    for kk in (k, k2, run_pipeline(k, PassContext(pow2_tiles=True)), run_pipeline(k2, PassContext(pow2_tiles=True))):
        assert parse(print_kernel(kk)) == kk


# ---- the soundness checker: a scan or sort along a grid-tiled axis is per tile ------------------

@tl.tile
def cumsum_over_grid(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = tl.cumsum(x[n], axis=0)


@tl.tile
def topk_over_grid(x, out, idx):
    (N,) = x.shape
    for n in tl.tile(N):
        v, i = tl.topk(x[n], 4)
        for k in tl.tile(4, block=[4]):
            out[k] = v
            idx[k] = i


@pytest.mark.parametrize("kernel, outs", [(cumsum_over_grid, 1), (topk_over_grid, 2)])
def test_scan_or_sort_along_grid_tiles_is_rejected(kernel, outs):
    from tilelang.errors import SoundnessError

    n = 100  # several programs of 16
    args = [torch.randn(n)] + [torch.zeros(n if kernel is cumsum_over_grid else 4) for _ in range(outs)]
    if outs == 2:
        args[2] = args[2].to(torch.int32)
    with pytest.raises(SoundnessError) as info:
        kernel(*args, config=tl.Config(BLOCK_N=16), backend="reference")
    assert "grid tile `n`" in str(info.value) and "test_scans_sort.py" in str(info.value)
