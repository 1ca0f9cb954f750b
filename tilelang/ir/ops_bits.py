"""Bit shifts `<<` and `>>` (declared in the op registry through `ops.declare`).

Both operands are first converted to their promoted dtype (like every binary op). `>>` is
arithmetic on signed integers and logical on unsigned ones. A shift count outside [0, bits) is
defined here, not left to the hardware (LLVM calls it poison, PTX clamps): `<<` gives 0 and `>>`
gives 0, or -1 for a negative signed value, as if the bits were shifted out one at a time.
"""

from __future__ import annotations

import numpy as np

from . import dtypes
from .ops import OpTypeError, _broadcast, declare
from .types import ValueType


def _shift_rule(symbol):
    def rule(ts, attrs):
        dt = dtypes.promote(ts[0].dtype, ts[1].dtype)
        if not dtypes.is_int(dt):
            raise OpTypeError(f"`{symbol}` needs integer operands, got {ts[0].dtype} and {ts[1].dtype}")
        return ValueType(dt, _broadcast(symbol, ts))
    return rule


def _count_ok(a: np.ndarray, b: np.ndarray):
    bits = np.asarray(a).dtype.itemsize * 8
    b = np.asarray(b)
    ok = (b < bits) if b.dtype.kind == "u" else ((b >= 0) & (b < bits))
    return ok, np.where(ok, b, 0).astype(np.asarray(a).dtype)


def shl_ref(a, b):
    ok, s = _count_ok(a, b)
    return np.where(ok, np.left_shift(a, s), np.zeros_like(a))


def shr_ref(a, b):
    ok, s = _count_ok(a, b)
    a = np.asarray(a)
    fill = np.where(a < 0, -1, 0).astype(a.dtype) if a.dtype.kind == "i" else np.zeros_like(a)
    return np.where(ok, np.right_shift(a, s), fill)


declare("shl", "elementwise `<<` on integers (counts outside [0, bits) give 0)", 2, _shift_rule("<<"), shl_ref,
        kind="binary", triton="_shl({0}, {1})")
declare("shr", "elementwise `>>`: arithmetic on signed, logical on unsigned integers", 2, _shift_rule(">>"),
        shr_ref, kind="binary", triton="_shr({0}, {1})")
