"""Lowering of calls to `tl.*` functions and tile methods inside a kernel."""

from __future__ import annotations

import ast

import sympy

from tilelang.errors import TileTypeError
from tilelang.ir import dtypes
from tilelang.ir.types import ValueType

from .values import DTypeValue, IRValue, Literal, Size, TileRef

_UNARY = {"exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos", "sigmoid", "floor", "ceil", "abs"}
_REDUCE = {"sum", "max", "min", "argmax", "argmin"}
# Lowered in builtins_ops.py: atomics, scans, sort / top-k, random numbers.
_OPS_CALLS = {"atomic_add", "atomic_max", "atomic_min", "cumsum", "cumprod", "cummax", "cummin", "sort", "topk",
              "rand", "randint"}


def _args(lw, node: ast.Call, names: list[str], required: int):
    """Bind positional and keyword arguments of a call to `names` (AST nodes, None when absent)."""
    out = dict.fromkeys(names)
    if len(node.args) > len(names):
        lw.fail(node, f"too many arguments: expected at most {len(names)} ({', '.join(names)})")
    for n, a in zip(names, node.args):
        out[n] = a
    for k in node.keywords:
        if k.arg not in out:
            lw.fail(k.value, f"unexpected keyword `{k.arg}`; accepted: {', '.join(names)}")
        if out[k.arg] is not None:
            lw.fail(k.value, f"`{k.arg}` given twice")
        out[k.arg] = k.value
    missing = [n for n in names[:required] if out[n] is None]
    if missing:
        lw.fail(node, f"missing argument(s): {', '.join(missing)}")
    return out


def to_dtype(lw, node) -> str:
    v = lw.expr(node)
    if isinstance(v, DTypeValue):
        return v.name
    lw.fail(node, "expected a dtype such as tl.float16, torch.float32 or x.dtype", TileTypeError)


def shape_entries(lw, node, whole_dims: bool = True) -> tuple:
    """The sizes of a compile-time shape list: tile variables (their blocks), positive ints, sizes made
    of tile blocks (m.size) and, where `whole_dims` (tile constructors, not reshape), a tensor
    dimension D standing for the whole dimension, as in `x[m, :]`."""
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else None
    if items is None:
        lw.fail(node, "a tile shape is a list such as [m, n] (tile variables) or [BLOCK, 4] (ints)" if whole_dims
                else "a shape is a list such as [4, 8] or [m, 2] (ints, tile variables, m.size)")
    out = []
    for it in items:
        v = lw.expr(it)
        if isinstance(v, TileRef):
            out.append(v.var.block)
        elif isinstance(v, Literal) and type(v.value) is int and v.value > 0:
            out.append(sympy.Integer(v.value))
        elif isinstance(v, Size) and not (v.expr.free_symbols - block_symbols_in_scope(lw)):
            out.append(v.expr)
        elif whole_dims and isinstance(v, Size) and isinstance(v.expr, sympy.Symbol):
            out.append(lw.whole_tile(v.expr, it).block)  # a whole dimension, like `x[m, :]`
        elif whole_dims:
            lw.fail(it, "a tile shape entry is a tile variable (its block size), m.size, a tensor dimension "
                        "such as D (the whole dimension, as `x[m, :]`), or a positive int")
        else:
            lw.fail(it, "a shape entry is a positive int, a tile variable (its block size) or m.size "
                        "(tensor sizes are not compile-time)", TileTypeError)
    return tuple(out)


def block_symbols_in_scope(lw) -> set:
    return {v.var.block for v in lw.scope.names.values() if isinstance(v, TileRef)} | {
        s for v in lw.scope.names.values() if isinstance(v, TileRef) for s in v.var.block.free_symbols}


def _axis(lw, node, rank: int, name: str) -> int:
    if node is None:
        return 0  # only reached for 1-D tiles (reduce_call checks)
    v = lw.expr(node)
    if not (isinstance(v, Literal) and type(v.value) is int):
        lw.fail(node, f"`axis` of {name} must be an integer constant")
    return v.value


def reduce_call(lw, name: str, x, args, keywords, node):
    fake = ast.Call(func=None, args=list(args), keywords=list(keywords))
    ast.copy_location(fake, node)
    a = _args(lw, fake, ["axis"], 0)
    x = lw.materialize(x, node)
    if a["axis"] is None and x.type.rank != 1:
        lw.fail(node, f"{name} of a {x.type.rank}-D tile needs `axis=`", TileTypeError)
    axis = _axis(lw, a["axis"], x.type.rank, name)
    return lw.op(name, [x], {"axis": axis}, node)


def call_builtin(lw, name: str, node: ast.Call):
    if name in ("zeros", "full"):
        names = ["shape", "value", "dtype"] if name == "full" else ["shape", "dtype"]
        a = _args(lw, node, names, 2 if name == "full" else 1)
        dt = to_dtype(lw, a["dtype"]) if a["dtype"] is not None else "f32"
        value = 0
        if name == "full":
            v = lw.expr(a["value"])
            if not isinstance(v, Literal):
                lw.fail(a["value"], "tl.full takes a constant fill value")
            value = v.value
        value = float(value) if dtypes.is_float(dt) else (bool(value) if dt == "bool" else int(value))
        return lw.op("full", [], {"shape": shape_entries(lw, a["shape"]), "value": value, "dtype": dt}, node)
    if name == "load":
        a = _args(lw, node, ["ref", "other", "mask"], 1)
        if not isinstance(a["ref"], ast.Subscript):
            lw.fail(node, "tl.load takes an indexed tensor: tl.load(x[m, n], other=0.0)")
        v = lw.load(a["ref"], other=a["other"], mask=a["mask"], node=node)
        if v is None:
            lw.fail(a["ref"], "tl.load needs a tensor parameter indexed with tiles")
        return v
    if name == "store":
        a = _args(lw, node, ["ref", "value", "mask"], 2)
        if not isinstance(a["ref"], ast.Subscript):
            lw.fail(node, "tl.store takes an indexed tensor: tl.store(x[m, n], value, mask=...)")
        lw._store(a["ref"], a["value"], a["mask"], node)
        return None
    if name in _OPS_CALLS:
        from .builtins_ops import call_ops_builtin
        return call_ops_builtin(lw, name, node)
    if name in ("maximum", "minimum"):
        a = _args(lw, node, ["a", "b"], 2)
        return lw.binary(name, lw.expr(a["a"]), lw.expr(a["b"]), node)
    if name == "where":
        a = _args(lw, node, ["cond", "a", "b"], 3)
        cond = lw.materialize(lw.expr(a["cond"]), a["cond"])
        x, y = lw.expr(a["a"]), lw.expr(a["b"])
        # Literals take the dtype of the other branch (or their own if both are literals).
        if isinstance(x, Literal) and isinstance(y, Literal):
            x, y = lw.materialize(x, node), lw.materialize(y, node)
        elif isinstance(x, Literal):
            y = lw.materialize(y, node)
            x = lw.coerce(x, _lit_dtype(x, y), node)
        elif isinstance(y, Literal):
            x = lw.materialize(x, node)
            y = lw.coerce(y, _lit_dtype(y, x), node)
        else:
            x, y = lw.materialize(x, node), lw.materialize(y, node)
        return lw.op("where", [cond, x, y], {}, node)
    if name == "dot":
        a = _args(lw, node, ["a", "b", "precision"], 2)
        prec = "ieee"
        if a["precision"] is not None:
            p = a["precision"]
            if not (isinstance(p, ast.Constant) and p.value in ("ieee", "tf32")):
                lw.fail(p, "precision is 'ieee' (exact f32 products) or 'tf32'")
            prec = p.value
        x = lw.materialize(lw.expr(a["a"]), node)
        y = lw.materialize(lw.expr(a["b"]), node)
        return lw.op("dot", [x, y], {"precision": prec}, node)
    if name == "trans":
        a = _args(lw, node, ["x"], 1)
        return lw.op("trans", [lw.materialize(lw.expr(a["x"]), node)], {}, node)
    if name == "cast":
        a = _args(lw, node, ["x", "dtype"], 2)
        return lw.op("cast", [lw.materialize(lw.expr(a["x"]), node)], {"dtype": to_dtype(lw, a["dtype"])}, node)
    if name == "broadcast_to":
        a = _args(lw, node, ["x", "shape"], 2)
        return lw.op("broadcast_to", [lw.materialize(lw.expr(a["x"]), node)],
                     {"shape": shape_entries(lw, a["shape"])}, node)
    if name in _REDUCE:
        if not node.args:
            lw.fail(node, f"tl.{name} takes a tile: tl.{name}(x, axis=1)")
        return reduce_call(lw, name, lw.expr(node.args[0]), node.args[1:], node.keywords, node)
    if name in _UNARY:
        a = _args(lw, node, ["x"], 1)
        return lw.op(name, [lw.materialize(lw.expr(a["x"]), node)], {}, node)
    if name == "arange":
        from .shapes import arange_call
        return arange_call(lw, node)
    if name == "reshape":
        from .shapes import reshape_call
        if not node.args:
            lw.fail(node, "tl.reshape(x, shape)")
        return reshape_call(lw, lw.expr(node.args[0]), node.args[1:], node.keywords, node)
    if name == "static_range":
        lw.fail(node, "tl.static_range(...) is only used as a loop: `for i in tl.static_range(4):`")
    if name == "cdiv":
        a = _args(lw, node, ["a", "b"], 2)
        x, y = lw.expr(a["a"]), lw.expr(a["b"])
        if isinstance(x, (Size, Literal)) and isinstance(y, (Size, Literal)):
            ex = x.expr if isinstance(x, Size) else sympy.Integer(x.value)
            ey = y.expr if isinstance(y, Size) else sympy.Integer(y.value)
            return Size(sympy.ceiling(ex / ey))
        lw.fail(node, "tl.cdiv works on sizes (tensor dimensions and integer constants)")
    lw.fail(node, f"tl.{name} is not supported in kernels yet")


def _lit_dtype(lit: Literal, other: IRValue) -> str:
    if isinstance(lit.value, float) and not dtypes.is_float(other.type.dtype):
        return "f32"
    return other.type.dtype


def call_python_builtin(lw, name: str, node: ast.Call):
    if name in ("min", "max") and len(node.args) == 2 and not node.keywords:
        return lw.binary("minimum" if name == "min" else "maximum", lw.expr(node.args[0]),
                         lw.expr(node.args[1]), node)
    if name in ("float", "int") and len(node.args) == 1 and isinstance(node.args[0], ast.Constant):
        try:
            return Literal(float(node.args[0].value) if name == "float" else int(node.args[0].value))
        except (TypeError, ValueError):
            lw.fail(node, f"{name}({node.args[0].value!r}) is not a number")
    if name == "abs" and len(node.args) == 1:
        return lw.op("abs", [lw.materialize(lw.expr(node.args[0]), node)], {}, node)
    if name in ("float", "int"):
        lw.fail(node, f"Python's `{name}()` works on constants only (e.g. float('inf')); convert tiles with "
                      f".to(tl.{'float32' if name == 'float' else 'int32'})")
    lw.fail(node, f"Python's `{name}` is not supported here; use tl.{name} on tiles")


__all__ = ["call_builtin", "call_python_builtin", "reduce_call", "to_dtype", "ValueType"]
