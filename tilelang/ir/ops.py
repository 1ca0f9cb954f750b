"""The op registry: each op is declared once, with every piece it needs.

An `OpDef` holds the op's documentation, its type rule (operand types + attrs -> result type, or a
user error), its reference semantics in numpy (used only by the reference interpreter) and its
rendering templates for the source-emitting backends (`templates["triton"]`, ...). Templates are
format strings over the rendered operands `{0}, {1}, ...` and attrs `{axis}`, `{dtype}`, ...; a
backend pre-renders attr values into its own spelling (e.g. dtype 'f16' -> 'tl.float16').

Ops whose meaning needs the interpreter's state (tile positions, sizes) have `ref=None`; the
reference interpreter implements them itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import sympy

from . import dtypes
from .types import ValueType, broadcast_shapes, format_expr


class OpTypeError(Exception):
    """Raised by type rules; the frontend/verifier turn it into a located user error."""


@dataclass(frozen=True)
class OpDef:
    name: str
    doc: str
    arity: int
    type_rule: Callable[[list[ValueType], dict], ValueType]
    ref: Callable[..., Any] | None
    templates: dict[str, str] = field(default_factory=dict)
    kind: str = "misc"  # 'binary' | 'compare' | 'unary' | 'reduce' | 'misc'


OPS: dict[str, OpDef] = {}


def declare(name, doc, arity, type_rule, ref, kind="misc", **templates) -> OpDef:
    od = OpDef(name, doc, arity, type_rule, ref, dict(templates), kind)
    OPS[name] = od
    return od


def result_type(name: str, arg_types: list[ValueType], attrs: dict) -> ValueType:
    od = OPS.get(name)
    if od is None:
        raise OpTypeError(f"unknown op `{name}`")
    if od.arity >= 0 and len(arg_types) != od.arity:
        raise OpTypeError(f"`{name}` takes {od.arity} operand(s), got {len(arg_types)}")
    return od.type_rule(arg_types, attrs)


# ---- type rules -----------------------------------------------------------------------------

def _broadcast(name: str, types: list[ValueType]):
    shape = types[0].shape
    for t in types[1:]:
        out = broadcast_shapes(shape, t.shape)
        if out is None:
            shown = " and ".join(f"[{', '.join(map(format_expr, x.shape))}]" for x in types)
            raise OpTypeError(f"shapes {shown} do not broadcast in `{name}`")
        shape = out
    return shape


def _arith(name):
    def rule(ts, attrs):
        dt = dtypes.promote(ts[0].dtype, ts[1].dtype)
        if dt == "bool":
            dt = "i32"
        if name == "truediv" and not dtypes.is_float(dt):
            dt = "f32"
        if name in ("floordiv", "mod") and dtypes.is_float(dt):
            raise OpTypeError(f"`{_SYMBOL.get(name, name)}` needs integer operands, got {ts[0].dtype} and {ts[1].dtype}")
        return ValueType(dt, _broadcast(name, ts))
    return rule


def _bitwise(name):
    def rule(ts, attrs):
        dt = dtypes.promote(ts[0].dtype, ts[1].dtype)
        if dtypes.is_float(dt):
            raise OpTypeError(f"`{_SYMBOL[name]}` needs bool or integer operands, got {ts[0].dtype} and {ts[1].dtype}")
        return ValueType(dt, _broadcast(name, ts))
    return rule


def _compare(name):
    def rule(ts, attrs):
        return ValueType("bool", _broadcast(name, ts))
    return rule


def _float_unary(ts, attrs):
    dt = ts[0].dtype
    return ValueType(dt if dtypes.is_float(dt) else "f32", ts[0].shape)


def _same(ts, attrs):
    return ts[0]


def _neg_rule(ts, attrs):
    if ts[0].dtype == "bool":
        raise OpTypeError("cannot negate a bool value; use `~`")
    return ts[0]


def _not_rule(ts, attrs):
    if dtypes.is_float(ts[0].dtype):
        raise OpTypeError(f"`~` needs a bool or integer operand, got {ts[0].dtype}")
    return ts[0]


def _where_rule(ts, attrs):
    if ts[0].dtype != "bool":
        raise OpTypeError(f"the condition of `where` must be bool, got {ts[0].dtype}")
    dt = dtypes.promote(ts[1].dtype, ts[2].dtype)
    return ValueType(dt, _broadcast("where", ts))


def _cast_rule(ts, attrs):
    return ValueType(attrs["dtype"], ts[0].shape)


def _dot_rule(ts, attrs):
    a, b = ts
    # 2-D, or batched: [B, M, K] @ [B, K, N] -> [B, M, N] (one product per leading index, as
    # np.matmul and Triton's 3-D tl.dot; the batch sizes must be equal, not broadcast).
    if (a.rank, b.rank) not in ((2, 2), (3, 3)):
        raise OpTypeError(f"`@` needs two 2-D tiles or two 3-D (batched) tiles, got {a} and {b}")
    if a.rank == 3 and a.shape[0] != b.shape[0]:
        raise OpTypeError(
            f"shape mismatch in batched `@`: {a} @ {b}: the batch sizes {format_expr(a.shape[0])} and "
            f"{format_expr(b.shape[0])} differ")
    if a.shape[-1] != b.shape[-2]:
        raise OpTypeError(
            f"shape mismatch in `@`: {a} @ {b}: the inner sizes {format_expr(a.shape[-1])} and "
            f"{format_expr(b.shape[-2])} differ")
    if dtypes.is_float(a.dtype) != dtypes.is_float(b.dtype) or "bool" in (a.dtype, b.dtype):
        raise OpTypeError(f"`@` needs two float or two integer tiles, got {a.dtype} and {b.dtype}")
    out = "f32" if dtypes.is_float(a.dtype) else "i32"
    if "f64" in (a.dtype, b.dtype):
        out = "f64"
    return ValueType(out, a.shape[:-1] + (b.shape[-1],))


def _reduce(name):
    def rule(ts, attrs):
        t = ts[0]
        axis = attrs["axis"]
        if t.rank == 0:
            raise OpTypeError(f"`{name}` needs a tile, got a scalar")
        if not -t.rank <= axis < t.rank:
            raise OpTypeError(f"`{name}` axis {axis} is out of range for a {t.rank}-D tile")
        axis %= t.rank
        shape = t.shape[:axis] + t.shape[axis + 1:]
        if name in ("argmax", "argmin"):
            dt = "i32"
        elif name == "sum":
            dt = accumulate_dtype(t.dtype)
        else:
            dt = t.dtype
        return ValueType(dt, shape)
    return rule


def accumulate_dtype(dt: str) -> str:
    """The dtype sums (and products) of `dt` are computed and returned in."""
    if dt in ("f16", "bf16"):
        return "f32"
    if dt in ("bool", "i8"):
        return "i32"
    if dt in ("u8", "u16"):
        return "u32"
    return dt


def _fill_rule(ts, attrs):
    return ValueType(attrs["dtype"], tuple(attrs["shape"]))


def _expand_rule(ts, attrs):
    t = ts[0]
    axis = attrs["axis"]
    if not 0 <= axis <= t.rank:
        raise OpTypeError(f"cannot insert an axis at {axis} into a {t.rank}-D tile")
    return ValueType(t.dtype, t.shape[:axis] + (sympy.Integer(1),) + t.shape[axis:])


def _trans_rule(ts, attrs):
    t = ts[0]
    if t.rank != 2:
        raise OpTypeError(f"`.T` needs a 2-D tile, got {t}")
    return ValueType(t.dtype, (t.shape[1], t.shape[0]))


def _broadcast_to_rule(ts, attrs):
    target = tuple(attrs["shape"])
    if broadcast_shapes(ts[0].shape, target) != target:
        raise OpTypeError(f"cannot broadcast {ts[0]} to [{', '.join(map(format_expr, target))}]")
    return ValueType(ts[0].dtype, target)


def _position_dtype(attrs) -> str:
    """i32, or i64 where passes/widen_positions.py compiled the kernel for sizes of 2**31 or more."""
    dt = attrs.get("dtype", "i32")
    if dt not in ("i32", "i64"):
        raise OpTypeError(f"tile positions and sizes are i32 or i64, not {dt}")
    return dt


def _tile_index_rule(ts, attrs):
    return ValueType(_position_dtype(attrs), (attrs["block"],))


def _position_rule(ts, attrs):
    return ValueType(_position_dtype(attrs))


def _known_false(rel) -> bool:
    """Whether a sympy relation on sizes is provably false (undecided ones are checked after tiling,
    when every tile size is an integer and the verifier re-derives the type)."""
    return sympy.sympify(rel) is sympy.false


def _arange_rule(ts, attrs):
    start, end = attrs["start"], attrs["end"]
    if type(start) is not int or type(end) is not int or end <= start:
        raise OpTypeError(f"arange needs compile-time ints start < end, got {start!r}, {end!r}")
    return ValueType("i32", (sympy.Integer(end - start),))


def _reshape_rule(ts, attrs):
    shape = tuple(attrs["shape"])
    old, new = sympy.Mul(*ts[0].shape), sympy.Mul(*shape)
    if any(_known_false(d > 0) for d in shape) or _known_false(sympy.Eq(old, new)):
        raise OpTypeError(f"cannot reshape {ts[0]} ({format_expr(old)} elements) to "
                          f"[{', '.join(map(format_expr, shape))}] ({format_expr(new)} elements)")
    return ValueType(ts[0].dtype, shape)


def _slice_rule(ts, attrs):
    axis, start, end = attrs["axis"], attrs["start"], attrs["end"]
    shape = ts[0].shape
    if not 0 <= axis < len(shape):
        raise OpTypeError(f"slice axis {axis} is out of range for a {ts[0]} tile")
    if type(start) is not int or type(end) is not int or not 0 <= start < end:
        raise OpTypeError(f"a tile slice a:b needs compile-time ints 0 <= a < b, got {start!r}:{end!r}")
    if _known_false(sympy.Le(end, shape[axis])):
        raise OpTypeError(f"slice {start}:{end} is past the end of axis {axis} of a {ts[0]} tile")
    return ValueType(ts[0].dtype, shape[:axis] + (sympy.Integer(end - start),) + shape[axis + 1:])


# ---- reference semantics helpers ---------------------------------------------------------------

def _floordiv(a, b):
    return np.floor_divide(a, b)


def _dot_ref(a, b):
    acc = np.float64 if np.result_type(a, b) == np.float64 else np.float32
    if np.issubdtype(a.dtype, np.integer):
        acc = np.int64
    return np.matmul(a.astype(acc), b.astype(acc))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_SYMBOL = {
    "add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%",
    "and": "&", "or": "|", "xor": "^", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
}

# ---- declarations -----------------------------------------------------------------------------

for _n, _f in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
               ("floordiv", _floordiv), ("mod", np.mod)]:
    declare(_n, f"elementwise `{_SYMBOL[_n]}` with broadcasting and dtype promotion", 2, _arith(_n), _f,
            kind="binary", triton="({0} " + _SYMBOL[_n] + " {1})")
declare("maximum", "elementwise maximum", 2, _arith("maximum"), np.maximum, kind="binary",
        triton="tl.maximum({0}, {1})")
declare("minimum", "elementwise minimum", 2, _arith("minimum"), np.minimum, kind="binary",
        triton="tl.minimum({0}, {1})")
for _n, _f in [("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor)]:
    declare(_n, f"elementwise `{_SYMBOL[_n]}` on bools or integers", 2, _bitwise(_n), _f, kind="binary",
            triton="({0} " + _SYMBOL[_n] + " {1})")
for _n, _f in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal),
               ("eq", np.equal), ("ne", np.not_equal)]:
    declare(_n, f"elementwise comparison `{_SYMBOL[_n]}`, bool result", 2, _compare(_n), _f, kind="compare",
            triton="({0} " + _SYMBOL[_n] + " {1})")

declare("neg", "negation", 1, _neg_rule, np.negative, kind="unary", triton="(-{0})")
declare("not", "bitwise / logical not", 1, _not_rule, np.invert, kind="unary", triton="(~{0})")
declare("abs", "absolute value", 1, _same, np.abs, kind="unary", triton="tl.abs({0})")
for _n, _f, _t in [("exp", np.exp, "tl.exp({0})"), ("exp2", np.exp2, "tl.exp2({0})"),
                   ("log", np.log, "tl.log({0})"), ("log2", np.log2, "tl.log2({0})"),
                   ("sqrt", np.sqrt, "tl.sqrt({0})"), ("rsqrt", lambda x: 1.0 / np.sqrt(x), "tl.rsqrt({0})"),
                   ("sin", np.sin, "tl.sin({0})"), ("cos", np.cos, "tl.cos({0})"),
                   ("sigmoid", _sigmoid, "tl.sigmoid({0})"),
                   ("floor", np.floor, "tl.floor({0})"), ("ceil", np.ceil, "tl.ceil({0})")]:
    declare(_n, f"elementwise {_n} (integer operands compute in f32)", 1, _float_unary, _f, kind="unary",
            triton=_t)

declare("where", "select elementwise: where(cond, a, b)", 3, _where_rule, np.where, triton="tl.where({0}, {1}, {2})")
declare("cast", "convert to attr `dtype`", 1, _cast_rule, None, triton="{0}.to({dtype})")
declare("copy", "the operand itself (a named copy)", 1, _same, lambda x: x, triton="{0}")
declare("dot", "matrix product of 2-D tiles (or batched, of 3-D tiles), accumulating in f32 (i32 for integers)", 2, _dot_rule, _dot_ref,
        triton="tl.dot({0}, {1}, input_precision={precision})")
for _n, _f, _t in [("sum", np.sum, "tl.sum({0}, axis={axis})"), ("max", np.max, "tl.max({0}, axis={axis})"),
                   ("min", np.min, "tl.min({0}, axis={axis})"),
                   ("argmax", np.argmax, "tl.argmax({0}, axis={axis}, tie_break_left=True)"),
                   ("argmin", np.argmin, "tl.argmin({0}, axis={axis}, tie_break_left=True)")]:
    declare(_n, f"reduce with {_n} along attr `axis`", 1, _reduce(_n), _f, kind="reduce", triton=_t)
declare("full", "a tile of attr `shape` filled with attr `value`", 0, _fill_rule, None,
        triton="tl.full({shape}, {value}, {dtype})")
declare("expand_dims", "insert a size-1 axis at attr `axis` (x[:, None])", 1, _expand_rule, None,
        triton="tl.expand_dims({0}, {axis})")
declare("broadcast_to", "broadcast to attr `shape`", 1, _broadcast_to_rule, None,
        triton="tl.broadcast_to({0}, {shape})")
declare("trans", "transpose a 2-D tile", 1, _trans_rule, np.transpose, triton="tl.trans({0})")
declare("tile_index", "global indices of tile attr `tile`: start + arange(block)", 0, _tile_index_rule, None)
declare("tile_start", "first global index of tile attr `tile`", 0, _position_rule, None)
declare("tile_id", "position of tile attr `tile` in its loop", 0, _position_rule, None)
declare("size", "the value of size expression attr `expr` (a tensor dimension)", 0, _position_rule, None)
declare("arange", "the 1-D i32 tile [attr start, attr end) (compile-time ints)", 0, _arange_rule, None,
        triton="tl.arange({start}, {end})")
declare("reshape", "the same elements in row-major order, in attr `shape` (same element count)", 1,
        _reshape_rule, None, triton="tl.reshape({0}, {shape})")
declare("slice", "elements [attr start, attr end) along attr `axis` (compile-time ints)", 1, _slice_rule, None)

# ---- C-family templates (cuda; hip and ascend renderers share them) ------------------------------
# Operands arrive already converted to the C type of the op's computation (the result dtype for
# arithmetic, the promoted dtype for comparisons; f16/bf16 compute in float and are rounded by the
# renderer), so one spelling serves every dtype. `tl_*` helpers live in the renderer's prelude.
# Ops without a "c" entry (cast, full, tile_index, reductions, dot, shape ops) are statements or
# index arithmetic that the renderer writes itself.
_C_TEMPLATES = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "truediv": "({0} / {1})",
    "floordiv": "tl_floordiv({0}, {1})", "mod": "tl_mod({0}, {1})",
    "maximum": "tl_max({0}, {1})", "minimum": "tl_min({0}, {1})",
    "and": "({0} & {1})", "or": "({0} | {1})", "xor": "({0} ^ {1})",
    "lt": "({0} < {1})", "le": "({0} <= {1})", "gt": "({0} > {1})", "ge": "({0} >= {1})",
    "eq": "({0} == {1})", "ne": "({0} != {1})",
    "neg": "(-{0})", "not": "tl_not({0})", "abs": "tl_abs({0})",
    "exp": "exp({0})", "exp2": "exp2({0})", "log": "log({0})", "log2": "log2({0})", "sqrt": "sqrt({0})",
    "rsqrt": "tl_rsqrt({0})", "sin": "sin({0})", "cos": "cos({0})", "sigmoid": "tl_sigmoid({0})",
    "floor": "floor({0})", "ceil": "ceil({0})",
    "where": "({0} ? {1} : {2})", "copy": "{0}",
}
for _n, _t in _C_TEMPLATES.items():
    OPS[_n].templates["c"] = _t

# Op families kept in their own modules (they declare into OPS on import).
from . import ops_bits, ops_random, ops_scan  # noqa: E402,F401
