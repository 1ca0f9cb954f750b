"""Shape changes of tile values in kernels: `x[:, None]`, slices `x[:, a:b]`, `tl.reshape` /
`x.reshape`, and `tl.arange`. Every bound is a compile-time int; shapes are checked by the op
registry's type rules (again after tiling, when every tile size is an integer)."""

from __future__ import annotations

import ast


from tilelang.errors import ShapeMismatchError, TileTypeError

from .builtins import shape_entries
from .values import IRValue, Literal, Size


def _const_int(lw, node, what: str) -> int:
    v = lw.expr(node)
    if isinstance(v, Literal) and type(v.value) is int:
        return v.value
    if isinstance(v, Size):
        from .control import resolve_size
        e = resolve_size(lw, v.expr)
        if e.is_Integer:
            return int(e)
    lw.fail(node, f"{what} must be a compile-time int (a Python int, or a size fixed at compile time)",
            TileTypeError)


def _op(lw, name, args, attrs, node):
    try:
        return lw.op(name, args, attrs, node)
    except TileTypeError as e:  # shape errors from the type rules are shape mismatches for the user
        raise ShapeMismatchError(e.message, e.loc) from None


def index_tile(lw, base: IRValue, node: ast.Subscript):
    """`x[:, None]` adds axes, `x[:, a:b]` takes elements a..b-1 along an axis; one entry per axis."""
    nodes = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    axes = [n for n in nodes if not (isinstance(n, ast.Constant) and n.value is None)]
    if len(axes) != base.type.rank or not all(isinstance(n, ast.Slice) for n in axes):
        lw.fail(node, "a tile is indexed with one `:` or `a:b` slice per axis and `None` to add axes, e.g. "
                      f"x[:, None] or x[:, 0:16]; this tile has {base.type.rank} dimension(s)")
    cur, axis = base, 0
    for n in nodes:
        if isinstance(n, ast.Constant):
            cur = lw.op("expand_dims", [cur], {"axis": axis}, node)
            axis += 1
            continue
        if n.step is not None:
            lw.fail(n, "tile slices take no step: use a:b")
        if n.lower is not None or n.upper is not None:
            dim = cur.type.shape[axis]
            start = _const_int(lw, n.lower, "a slice start") if n.lower is not None else 0
            if n.upper is not None:
                end = _const_int(lw, n.upper, "a slice end")
            else:
                from .control import resolve_size
                end_e = resolve_size(lw, dim)
                if not end_e.is_Integer:
                    lw.fail(n, f"`a:` runs to the end of an axis of size {dim}, which is not known at compile "
                               "time; give the end explicitly", TileTypeError)
                end = int(end_e)
            if start < 0 or end < 0:
                lw.fail(n, "tile slice bounds are non-negative ints (no negative indexing)", TileTypeError)
            cur = _op(lw, "slice", [cur], {"axis": axis, "start": start, "end": end}, n)
        axis += 1
    return cur


def reshape_call(lw, x, args, keywords, node):
    if keywords or len(args) != 1:
        lw.fail(node, "reshape takes one shape: x.reshape([4, 8]) or tl.reshape(x, [4, 8])")
    x = lw.materialize(x, node)
    return _op(lw, "reshape", [x], {"shape": shape_entries(lw, args[0], whole_dims=False)}, node)


def arange_call(lw, node: ast.Call):
    if node.keywords or len(node.args) != 2:
        lw.fail(node, "tl.arange(start, end) takes two compile-time ints")
    start = _const_int(lw, node.args[0], "tl.arange's start")
    end = _const_int(lw, node.args[1], "tl.arange's end")
    if end <= start:
        lw.fail(node, f"tl.arange({start}, {end}) is empty: end must be greater than start", ShapeMismatchError)
    return lw.op("arange", [], {"start": start, "end": end}, node)
