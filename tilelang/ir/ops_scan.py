"""Scans (cumsum, cumprod, cummax, cummin), sort and top-k along one axis of a tile.

Scans are inclusive; cumsum/cumprod of f16/bf16 accumulate in f32 and return f32, small integers
in 32 bits (like `sum`). Sorting is stable under one total order, the same on every backend:
for floats -inf < ... < -0.0 < +0.0 < ... < inf < NaN (every NaN counts as the largest value),
and equal elements keep their order along the axis, in both directions. `topk(x, k, axis)` is
the first k of the descending sort: values and their indices (positions within the tile along
`axis`, i32).

A tile has no notion of which lanes were past the tensor's edge: those lanes hold the load's fill
value (`other`, 0 by default) and take part in the sort. Load with `other=float('nan')` (NaN is
the largest value; integers: the dtype's largest) before an ascending sort, and with
`other=-float('inf')` (integers: the smallest) before a descending sort or top-k: the padded lanes
then land after every real element, since ties keep their order and real lanes come first.
"""

from __future__ import annotations

import numpy as np
import sympy

from .ops import OpTypeError, accumulate_dtype, declare
from .types import ValueType

SCANS = ("cumsum", "cumprod", "cummax", "cummin")


def _axis_of(name, t, attrs) -> int:
    if t.rank == 0:
        raise OpTypeError(f"`{name}` needs a tile, got a scalar")
    axis = attrs["axis"]
    if not -t.rank <= axis < t.rank:
        raise OpTypeError(f"`{name}` axis {axis} is out of range for a {t.rank}-D tile")
    return axis % t.rank


def _scan_rule(name):
    def rule(ts, attrs):
        t = ts[0]
        _axis_of(name, t, attrs)
        if name in ("cumsum", "cumprod"):
            return ValueType(accumulate_dtype(t.dtype), t.shape)
        if t.dtype == "bool":
            raise OpTypeError(f"`{name}` needs a number tile, got bool")
        return t
    return rule


def _sortable(name, t):
    if t.dtype == "bool":
        raise OpTypeError(f"`{name}` needs a number tile, got bool (convert it with .to(tl.int32))")


def _sort_rule(ts, attrs):
    _axis_of("sort", ts[0], attrs)
    _sortable("sort", ts[0])
    return ts[0]


def _topk_rule(index: bool):
    def rule(ts, attrs):
        t = ts[0]
        axis = _axis_of("topk", t, attrs)
        _sortable("topk", t)
        k = attrs["k"]
        n = sympy.sympify(t.shape[axis])
        if n.is_Integer and not 1 <= k <= int(n):
            raise OpTypeError(f"`topk` needs 1 <= k <= {int(n)} (the tile's size along axis {axis}), got k={k}")
        shape = t.shape[:axis] + (sympy.Integer(k),) + t.shape[axis + 1:]
        return ValueType("i32" if index else t.dtype, shape)
    return rule


# ---- reference semantics ----------------------------------------------------------------------

def _cummax(x, axis):
    return np.maximum.accumulate(x, axis=axis)


def _cummin(x, axis):
    return np.minimum.accumulate(x, axis=axis)


def sort_order(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Indices that sort `x` along `axis` in the documented total order (stable)."""
    x = np.moveaxis(np.asarray(x), axis, -1)
    idx = np.broadcast_to(np.arange(x.shape[-1]), x.shape)
    if x.dtype.kind == "f":
        nan = np.isnan(x)
        v = np.where(nan, 0, x).astype(np.float64)
        zero_sign = (~np.signbit(x)).astype(np.int8)  # -0.0 before +0.0
        keys = (idx, -zero_sign, -v, ~nan) if descending else (idx, zero_sign, v, nan)
    else:
        v = x.astype(np.uint8) if x.dtype == np.bool_ else x
        keys = (idx, ~v) if descending else (idx, v)
    return np.moveaxis(np.lexsort(keys, axis=-1), -1, axis)


def _sort_ref(x, axis, descending=False):
    return np.take_along_axis(x, sort_order(x, axis, descending), axis=axis)


def _topk_ref(x, k, axis):
    order = np.take(sort_order(x, axis, True), np.arange(k), axis=axis)
    return np.take_along_axis(x, order, axis=axis)


def _topk_index_ref(x, k, axis):
    return np.take(sort_order(x, axis, True), np.arange(k), axis=axis).astype(np.int32)


for _n, _f, _t in [("cumsum", np.cumsum, "tl.cumsum({0}, axis={axis})"),
                   ("cumprod", np.cumprod, "tl.cumprod({0}, axis={axis})"),
                   ("cummax", _cummax, "tl.associative_scan({0}, {axis}, _max_combine)"),
                   ("cummin", _cummin, "tl.associative_scan({0}, {axis}, _min_combine)")]:
    declare(_n, f"inclusive {_n[3:]} scan along attr `axis`", 1, _scan_rule(_n), _f, kind="scan", triton=_t)
declare("sort", "stable sort along attr `axis` (attr `descending`); NaN largest, -0.0 < +0.0", 1, _sort_rule,
        _sort_ref, kind="sort")
declare("topk", "the k (attr) largest along attr `axis`, largest first (stable)", 1, _topk_rule(False), _topk_ref,
        kind="sort")
declare("topk_index", "positions (i32, along attr `axis`) of topk's values", 1, _topk_rule(True), _topk_index_ref,
        kind="sort")
