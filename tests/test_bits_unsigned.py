"""Unsigned integer dtypes (u8, u16, u32, u64) and the shifts `<<` / `>>` on every backend, against
Python-int arithmetic; promotion rules, dtype names, literal range errors, the IR text form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import TileTypeError
from tilelang.ir import dtypes

from conftest import BACKENDS, poisoned

TORCH = {"i8": torch.int8, "i32": torch.int32, "i64": torch.int64, "u8": torch.uint8, "u16": torch.uint16,
         "u32": torch.uint32, "u64": torch.uint64}
CFG = tl.Config(BLOCK_N=16)
CFG_M = tl.Config(BLOCK_M=4)


def _random_ints(dt, n, rng, lo=None, hi=None):
    lo_, hi_ = dtypes.int_range(dt)
    lo, hi = lo_ if lo is None else lo, hi_ if hi is None else hi
    span = hi - lo + 1  # Python ints: u64 spans exceed numpy's int64 bounds
    vals = [lo + (int(rng.integers(0, 2**32)) << 32 | int(rng.integers(0, 2**32))) % span for _ in range(n)]
    return vals, torch.from_numpy(np.array(vals, dtype=dtypes.NUMPY_STORAGE[dt]))


def _wrap(v: int, dt: str) -> int:
    n = dtypes.bits(dt)
    v &= (1 << n) - 1
    return v - (1 << n) if not dtypes.is_unsigned(dt) and v >= 1 << (n - 1) else v


@tl.tile
def shift_kernel(x, s, left, right, left3):
    (N,) = x.shape
    for n in tl.tile(N):
        left[n] = x[n] << s[n]
        right[n] = x[n] >> s[n]
        left3[n] = (x[n] >> 1) << 3


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", ["i32", "u32", "u8", "i64", "u64", "u16"])
@settings(max_examples=3)
@given(n=st.integers(1, 70), seed=st.integers(0, 10_000))
def test_shifts(backend, dt, n, seed):
    rng = np.random.default_rng(seed)
    bits = dtypes.bits(dt)
    xs, x = _random_ints(dt, n, rng)
    # counts inside and just outside [0, bits); negative ones wrap to huge counts in unsigned types
    counts = [_wrap(int(c), dt) for c in rng.integers(-3, bits + 3, size=n, endpoint=True)]
    s = torch.from_numpy(np.array(counts, dtype=dtypes.NUMPY_STORAGE[dt]))
    outs = [poisoned((n,), TORCH[dt]) for _ in range(3)]
    shift_kernel(x, s, *outs, config=CFG, backend=backend)
    want_l = [_wrap(a << c, dt) if 0 <= c < bits else 0 for a, c in zip(xs, counts)]
    want_r = [a >> c if 0 <= c < bits else (-1 if a < 0 else 0) for a, c in zip(xs, counts)]
    want_3 = [_wrap((a >> 1) << 3, dt) for a in xs]
    assert outs[0].tolist() == want_l
    assert outs[1].tolist() == want_r
    assert outs[2].tolist() == want_3


@tl.tile
def uint_math_kernel(a, b, add, mul, q, r, mx, lt, f, mixed):
    (N,) = a.shape
    for n in tl.tile(N):
        x = a[n]
        y = b[n]
        add[n] = x + y
        mul[n] = x * y
        q[n] = x // y
        r[n] = x % y
        mx[n] = tl.maximum(x, y)
        lt[n] = x < y
        f[n] = x.to(tl.float64)
        mixed[n] = (x + 200).to(tl.int64) - y.to(tl.int64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", ["u8", "u32", "u64"])
@settings(max_examples=3)
@given(n=st.integers(1, 70), seed=st.integers(0, 10_000))
def test_unsigned_arithmetic(backend, dt, n, seed):
    rng = np.random.default_rng(seed)
    hi = dtypes.int_range(dt)[1]
    av, a = _random_ints(dt, n, rng)
    bv, b = _random_ints(dt, n, rng, lo=1, hi=min(hi, 2**62))  # values above 2**31 test unsigned order
    T = TORCH[dt]
    outs = [poisoned((n,), T) for _ in range(5)] + [torch.zeros(n, dtype=torch.bool),
                                                    poisoned((n,), torch.float64), poisoned((n,), torch.int64)]
    uint_math_kernel(a, b, *outs, config=CFG, backend=backend)
    m = (1 << dtypes.bits(dt)) - 1
    assert outs[0].tolist() == [(x + y) & m for x, y in zip(av, bv)]
    assert outs[1].tolist() == [(x * y) & m for x, y in zip(av, bv)]
    assert outs[2].tolist() == [x // y for x, y in zip(av, bv)]
    assert outs[3].tolist() == [x % y for x, y in zip(av, bv)]
    assert outs[4].tolist() == [max(x, y) for x, y in zip(av, bv)]
    assert outs[5].tolist() == [x < y for x, y in zip(av, bv)]
    assert outs[6].tolist() == [float(x) for x in av]
    assert outs[7].tolist() == [_wrap(((x + 200) & m) - y, "i64") for x, y in zip(av, bv)]


@tl.tile
def uint_reduce_kernel(x, mx, mn, sm, amax):
    M, N = x.shape
    for m in tl.tile(M):
        t = tl.load(x[m, :])
        mx[m] = tl.max(t, axis=1)
        mn[m] = tl.min(tl.load(x[m, :], other=4294967295), axis=1)
        sm[m] = tl.sum(t.to(tl.uint8), axis=1)
        amax[m] = tl.argmax(t, axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(M=st.integers(1, 9), N=st.integers(1, 32), seed=st.integers(0, 10_000))
def test_unsigned_reductions(backend, M, N, seed):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.integers(0, 2**32, size=(M, N), dtype=np.uint64).astype(np.uint32))
    mx, mn = poisoned((M,), torch.uint32), poisoned((M,), torch.uint32)
    sm, amax = poisoned((M,), torch.uint32), poisoned((M,), torch.int32)
    uint_reduce_kernel(x, mx, mn, sm, amax, config=CFG_M, backend=backend)
    rows = x.to(torch.int64).tolist()
    assert mx.tolist() == [max(r) for r in rows]
    assert mn.tolist() == [min(r) for r in rows]
    assert sm.tolist() == [sum(v & 0xFF for v in r) for r in rows]  # u8 sums accumulate in u32
    assert amax.tolist() == [r.index(max(r)) for r in rows]


def test_promotion_rules():
    p = dtypes.promote
    assert p("u32", "i32") == "u32" and p("u8", "i32") == "i32" and p("u32", "i64") == "i64"
    assert p("u64", "i64") == "u64" and p("u8", "u16") == "u16" and p("i8", "u8") == "u8"
    assert p("u32", "f16") == "f16" and p("bool", "u8") == "u8"
    for name, dt in [("uint8", "u8"), ("uint16", "u16"), ("uint32", "u32"), ("uint64", "u64")]:
        assert dtypes.from_torch(getattr(torch, name)) == dt and dtypes.to_torch(dt) is getattr(torch, name)
        assert tl.__dict__[name].name == dt and dtypes.normalize(f"torch.{name}") == dt


@tl.tile
def negative_literal(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] + (-1)


@tl.tile
def float_shift(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] << 2


def test_literal_out_of_range():
    with pytest.raises(TileTypeError) as info:
        negative_literal(torch.zeros(4, dtype=torch.uint32), torch.zeros(4, dtype=torch.uint32),
                         backend="reference")
    assert "-1 does not fit in u32" in str(info.value) and "test_bits_unsigned.py" in str(info.value)


def test_float_shift_rejected():
    with pytest.raises(TileTypeError) as info:
        float_shift(torch.zeros(4), torch.zeros(4), backend="reference")
    assert "`<<` needs integer operands" in str(info.value)


def test_ir_text_round_trips():
    from tilelang.frontend.lower import ArgSpec
    from tilelang.ir.parser import parse
    from tilelang.ir.printer import print_kernel
    from tilelang.passes import PassContext, run_pipeline

    t = {"x": ArgSpec("tensor", "u64", 1), "s": ArgSpec("tensor", "u64", 1)}
    t.update({k: ArgSpec("tensor", "u64", 1) for k in ("left", "right", "left3")})
    k = shift_kernel.lower(t)
    for kk in (k, run_pipeline(k, PassContext(pow2_tiles=True))):
        text = print_kernel(kk)
        assert "u64" in text and "shl" in text and "shr" in text
        assert parse(text) == kk
