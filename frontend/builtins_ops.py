"""Lowering of `tl.atomic_*`, scans, `tl.sort` / `tl.topk` and `tl.rand` / `tl.randint` calls."""

from __future__ import annotations

import ast

from tilelang.errors import TileTypeError

from .builtins import _args, _axis, reduce_call
from .values import IRValue, Literal, ValueTuple

_SCANS = {"cumsum", "cumprod", "cummax", "cummin"}


def _const_int(lw, node, what: str) -> int:
    v = lw.expr(node)
    if not (isinstance(v, Literal) and type(v.value) is int):
        lw.fail(node, f"{what} must be an integer constant")
    return v.value


def _const_bool(lw, node, what: str) -> bool:
    v = lw.expr(node)
    if not (isinstance(v, Literal) and isinstance(v.value, bool)):
        lw.fail(node, f"{what} must be True or False")
    return v.value


def _tile_axis(lw, name, x, axis_node, node) -> int:
    if axis_node is None and x.type.rank != 1:
        lw.fail(node, f"tl.{name} of a {x.type.rank}-D tile needs `axis=`", TileTypeError)
    return _axis(lw, axis_node, x.type.rank, name)


def _int_value(lw, node, what: str):
    v = lw.expr(node)
    if isinstance(v, Literal) and type(v.value) is int:
        return lw.coerce(v, "i32" if -2**31 <= v.value < 2**31 else "i64", node)
    return lw.materialize(v, node)


def call_ops_builtin(lw, name: str, node: ast.Call):
    if name.startswith("atomic_"):
        a = _args(lw, node, ["ref", "value", "mask"], 2)
        if not isinstance(a["ref"], ast.Subscript):
            lw.fail(node, f"tl.{name} takes an indexed tensor: tl.{name}(x[idx], value, mask=...)")
        lw._store(a["ref"], a["value"], a["mask"], node, atomic=name.removeprefix("atomic_"))
        return None
    if name in _SCANS:
        if not node.args:
            lw.fail(node, f"tl.{name} takes a tile: tl.{name}(x, axis=0)")
        return reduce_call(lw, name, lw.expr(node.args[0]), node.args[1:], node.keywords, node)
    if name == "sort":
        a = _args(lw, node, ["x", "axis", "descending"], 1)
        x = lw.materialize(lw.expr(a["x"]), node)
        axis = _tile_axis(lw, name, x, a["axis"], node)
        desc = _const_bool(lw, a["descending"], "`descending`") if a["descending"] is not None else False
        return lw.op("sort", [x], {"axis": axis, "descending": desc}, node)
    if name == "topk":
        a = _args(lw, node, ["x", "k", "axis"], 2)
        x = lw.materialize(lw.expr(a["x"]), node)
        axis = _tile_axis(lw, name, x, a["axis"], node)
        k = _const_int(lw, a["k"], "`k` of tl.topk")
        if k < 1:
            lw.fail(a["k"], f"`k` of tl.topk must be at least 1, got {k}", TileTypeError)
        attrs = {"axis": axis, "k": k}
        return ValueTuple((lw.op("topk", [x], attrs, node), lw.op("topk_index", [x], attrs, node)))
    if name in ("rand", "randint"):
        a = _args(lw, node, ["seed", "offsets"], 2)
        seed = _int_value(lw, a["seed"], "seed")
        offsets = _int_value(lw, a["offsets"], "offsets")
        return lw.op(name, [seed, offsets], {}, node)
    lw.fail(node, f"tl.{name} is not supported in kernels yet")


__all__ = ["call_ops_builtin", "IRValue"]
