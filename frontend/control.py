"""Control flow in kernels: `if` (decided at compile time or at run time), `tl.static_range`
loops (unrolled here), and tile loops whose bounds are runtime scalars (`tl.tile(lo, hi)`).

Compile-time values are Python literals and globals, and size expressions that the Config's tile
sizes and `eq` assumptions (a `--shape`) make concrete. An `if` on such a value lowers only the
branch taken: no IR exists for the other. An `if` on a bool scalar known only at run time (a scalar
parameter, a value loaded from a tensor, a comparison of a size with a scalar) becomes an `ir.If`.
"""

from __future__ import annotations

import ast

import sympy

from tilelang.errors import NameError_, TileTypeError
from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.ir.types import ValueType, size_subs

from .values import IRValue, Literal, Size, TileRef

# Unrolling more than this many iterations is almost certainly a mistake (and would be slow).
MAX_UNROLL = 1024

_SYMPY_CMP = {"lt": sympy.Lt, "le": sympy.Le, "gt": sympy.Gt, "ge": sympy.Ge, "eq": sympy.Eq, "ne": sympy.Ne}


def resolve_size(lw, e) -> sympy.Expr:
    """A size expression with the sizes known at compile time substituted."""
    return sympy.sympify(e).subs(size_subs(lw.known_sizes))


def fold_size_compare(lw, op: str, a, b) -> Literal | None:
    """`m.size >= 64`, `M == 128` (with M fixed): a Literal bool when it is decided at compile time."""
    ea = resolve_size(lw, a.expr) if isinstance(a, Size) else a.value
    eb = resolve_size(lw, b.expr) if isinstance(b, Size) else b.value
    if isinstance(ea, bool) or isinstance(eb, bool):
        return None
    try:
        r = _SYMPY_CMP[op](sympy.sympify(ea), sympy.sympify(eb))
    except TypeError:
        return None
    if r is sympy.true or r is sympy.false:
        return Literal(bool(r))
    return None


def static_truth(lw, v, node) -> bool | None:
    """The truth of a compile-time condition, or None when it is only known at run time."""
    if isinstance(v, Literal):
        return bool(v.value)
    if isinstance(v, Size):
        e = resolve_size(lw, v.expr)
        if e.is_Integer:
            return bool(int(e))
        return None
    if isinstance(v, IRValue):
        return None
    lw.fail(node, "an `if` condition is a Python constant, a size comparison or a bool scalar", TileTypeError)


# ---- if ---------------------------------------------------------------------------------------------

def condition(lw, node):
    """An `if` condition: an expression, with `and` / `or` / `not` allowed on top. Compile-time operands
    fold (and short-circuit, as in Python); runtime bool scalars combine with & | ~."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        v = condition(lw, node.operand)
        truth = static_truth(lw, v, node.operand)
        if truth is not None:
            return Literal(not truth)
        return lw.op("not", [_runtime_bool(lw, v, node.operand)], {}, node)
    if not isinstance(node, ast.BoolOp):
        return lw.expr(node)
    is_and = isinstance(node.op, ast.And)
    runtime = []
    for operand in node.values:
        v = condition(lw, operand)
        truth = static_truth(lw, v, operand)
        if truth is None:
            runtime.append(_runtime_bool(lw, v, operand))
        elif truth != is_and:  # a False in an `and`, a True in an `or`: the result, whatever the rest is
            return Literal(truth)
    if not runtime:
        return Literal(is_and)
    out = runtime[0]
    for v in runtime[1:]:
        out = lw.op("and" if is_and else "or", [out, v], {}, node)
    return out


def _runtime_bool(lw, v, node) -> IRValue:
    if isinstance(v, Size):
        v = lw.materialize(v, node)
    if not isinstance(v, IRValue) or v.type != ValueType("bool"):
        shown = v.type if isinstance(v, IRValue) else "this value"
        lw.fail(node, f"`and` / `or` / `not` in an `if` condition combine bool scalars, got {shown}", TileTypeError)
    return v


def lower_if(lw, s: ast.If):
    cond = condition(lw, s.test)
    taken = static_truth(lw, cond, s.test)
    if taken is not None:
        lw.block(s.body if taken else s.orelse)
        return
    if isinstance(cond, Size):
        cond = lw.materialize(cond, s.test)
    if cond.type.shape:
        lw.fail(s.test, f"an `if` needs a scalar condition, got a {cond.type} tile; choose elementwise with "
                        "tl.where(cond, a, b)", TileTypeError)
    if cond.type.dtype != "bool":
        lw.fail(s.test, f"an `if` condition must be bool, got {cond.type.dtype}; compare explicitly, e.g. "
                        "`if n != 0:`", TileTypeError)
    before = dict(lw.scope.names)
    then_body, then_names = _branch(lw, s.body, before)
    else_body, else_names = _branch(lw, s.orelse, before)
    merged = dict(before)
    for name in then_names.keys() & else_names.keys():
        t, e, b = then_names[name], else_names[name], before.get(name)
        if t == e:
            merged[name] = t
            continue
        if not (isinstance(t, IRValue) and isinstance(e, IRValue)):
            lw.fail(s, f"`{name}` is bound to different compile-time values in the two branches of this `if` "
                       "(its condition is only known at run time)", TileTypeError)
        if t.type != e.type:
            lw.fail(s, f"`{name}` is {t.type} after the `if` branch but {e.type} after the `else` branch; "
                       "a name assigned in both branches keeps one type (convert with .to())", TileTypeError)
        # Both branches must leave the value in one IR variable: the one a branch assigned.
        target = t.value if t != b else e.value
        for body, v in ((then_body, t), (else_body, e)):
            if v.value != target:
                body.append(ir.Assign(target.name, t.type, ir.Op("copy", (v.value,)), lw.loc(s)))
        merged[name] = IRValue(target, t.type)
    # Names bound in only one branch do not exist after the `if`.
    lw.scope.names = merged
    lw.emit(ir.If(cond.value, tuple(then_body), tuple(else_body), lw.loc(s)))


def _branch(lw, stmts, before: dict):
    lw.scope.names = dict(before)
    body: list[ir.Stmt] = []
    lw.body_stack.append(body)
    lw.block(stmts)
    lw.body_stack.pop()
    return body, lw.scope.names


# ---- tl.static_range -----------------------------------------------------------------------------------

def _static_int(lw, node) -> int:
    v = lw.expr(node)
    if isinstance(v, Literal) and type(v.value) is int:
        return v.value
    if isinstance(v, Size):
        e = resolve_size(lw, v.expr)
        if e.is_Integer:
            return int(e)
        lw.fail(node, f"tl.static_range needs sizes known at compile time; `{ast.unparse(node)}` = {e} is only "
                      "known at launch (fix it with a Config entry or --shape, or use a tile loop)", TileTypeError)
    lw.fail(node, "tl.static_range takes Python ints, sizes fixed at compile time, or tile sizes (m.size)",
            TileTypeError)


def lower_static_range(lw, s: ast.For, call: ast.Call):
    if call.keywords or not 1 <= len(call.args) <= 3:
        lw.fail(call, "tl.static_range(stop) or tl.static_range(start, stop[, step]), like range()")
    bounds = [_static_int(lw, a) for a in call.args]
    if len(bounds) == 3 and bounds[2] == 0:
        lw.fail(call.args[2], "tl.static_range step must not be zero")
    values = range(*bounds)
    if len(values) > MAX_UNROLL:
        lw.fail(call, f"tl.static_range unrolls {len(values)} iterations; the limit is {MAX_UNROLL} (use a tile loop)")
    if not isinstance(s.target, ast.Name):
        lw.fail(s.target, "name one loop variable: `for i in tl.static_range(4):`")
    if s.target.id in lw.tile_names:
        lw.fail(s.target, f"`{s.target.id}` is a tile loop variable and cannot be reused", NameError_)
    for i in values:
        lw.scope.names[s.target.id] = Literal(i)
        lw.block(s.body)


# ---- tl.tile(lo, hi) -------------------------------------------------------------------------------------

def _bound(lw, node) -> ir.Value:
    v = lw.expr(node)
    if isinstance(v, Literal) and type(v.value) is int:
        return ir.Const(v.value, "i32")
    if isinstance(v, Size):
        v = lw.size_value(v, node)
    if isinstance(v, TileRef):
        lw.fail(node, "a loop bound is an integer scalar: use m.start or a tensor value, not the tile itself",
                TileTypeError)
    if not isinstance(v, IRValue) or v.type.shape or not dtypes.is_int(v.type.dtype):
        shown = v.type if isinstance(v, IRValue) else "this value"
        lw.fail(node, f"the bounds of `tl.tile(lo, hi)` are integer scalars (element offsets), got {shown}",
                TileTypeError)
    if v.type.dtype != "i32":
        v = lw.op("cast", [v], {"dtype": "i32"}, node)
    return v.value


def runtime_tiles(lw, s: ast.For, call: ast.Call) -> tuple[ir.TileVar, ...]:
    """`for n in tl.tile(lo, hi, block=...)`: one runtime-bounded tile over the elements [lo, hi)."""
    if isinstance(s.target, ast.Tuple):
        lw.fail(s.target, "`tl.tile(lo, hi)` is one-dimensional: name one tile variable")
    lo, hi = _bound(lw, call.args[0]), _bound(lw, call.args[1])
    names = lw._loop_targets(s.target, 1)
    block_kw = next((k for k in call.keywords if k.arg == "block"), None)
    if block_kw is not None and isinstance(lw._maybe_size(block_kw.value), Size):
        lw.fail(block_kw.value, "the block of a runtime-bounded tile is a positive int or the name of a Config "
                                "entry (a string), not a tensor size", TileTypeError)
    (block,) = lw._blocks(call, names, [None])
    return (ir.TileVar(names[0], None, block, lo, hi),)


__all__ = ["lower_if", "lower_static_range", "runtime_tiles", "fold_size_compare"]
