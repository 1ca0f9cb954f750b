"""Parse the IR's text form (grammar.lark) back into nodes."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import sympy
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from tilelang.errors import IRParseError, Loc

from . import nodes as ir
from .printer import SIZE_ATTRS
from .types import TensorType, ValueType, dim_symbol


@functools.cache
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=False)


_FUNCS = {"floor": sympy.floor, "ceiling": sympy.ceiling, "Mod": sympy.Mod, "Max": sympy.Max, "Min": sympy.Min}


def _scalar(tok: Token):
    text = str(tok)
    if text in ("true", "false"):
        return text == "true"
    if text in ("inf", "-inf", "nan", "-nan"):
        return float(text)
    try:
        return int(text)
    except ValueError:
        return float(text)


_STMTS = (ir.Assign, ir.Store, ir.TileLoop, ir.If)


class _Branch:
    """The statements of one branch of an `if` while the tree is being built."""

    def __init__(self, stmts):
        self.stmts = stmts


@v_args(inline=True)
class _Build(Transformer):
    # sizes
    def int(self, t):
        return sympy.Integer(int(t))

    def float_lit(self, t):
        return sympy.Float(str(t))

    def symbol(self, t):
        return dim_symbol(str(t))

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        return a / b

    def pow(self, a, b):
        return a ** b

    def neg(self, a):
        return -a

    def func(self, name, *args):
        fn = _FUNCS.get(str(name))
        if fn is None:
            raise IRParseError(f"unknown size function `{name}` (known: {', '.join(_FUNCS)})")
        return fn(*args)

    # values and types
    def var(self, t):
        return ir.Var(str(t)[1:])

    def const(self, number, dtype):
        v = _scalar(number)
        dt = str(dtype)
        if dt.startswith("f") or dt == "bf16":
            v = float(v)
        elif dt == "bool":
            v = bool(v)
        else:
            v = int(v)
        return ir.Const(v, dt)

    def tensor_type(self, dtype, *dims):
        return TensorType(str(dtype), tuple(d for d in dims if d is not None))

    def value_type(self, dtype, *dims):
        return ValueType(str(dtype), tuple(dims))

    def loc(self, file, line, col):
        return Loc(json.loads(file), int(line), int(col))

    # attrs
    def string(self, t):
        return json.loads(t)

    def boolean(self, t):
        return str(t) == "true"

    def dtype_attr(self, t):
        return str(t)

    def special_float(self, t):
        return float(str(t))

    def size_list(self, *items):
        return tuple(i for i in items if i is not None)

    def attr(self, name, value):
        key = str(name)
        if key not in SIZE_ATTRS and isinstance(value, sympy.Basic):
            if str(value) in ("nan", "inf", "-inf", "-nan"):
                # `value = nan` lexes as a size symbol named nan (NAME wins over SPECIAL_FLOAT there)
                value = float(str(value))
            else:
                value = int(value) if value.is_Integer else float(value)
        return key, value

    def attrs(self, *items):
        return tuple(items)

    # expressions
    def tile_index(self, name):
        return ir.TileIndex(str(name))

    def value_index(self, value):
        return ir.ValueIndex(value)

    def index(self, *items):
        return tuple(items)

    def other(self, v):
        return ("other", v)

    def mask(self, v):
        return ("mask", v)

    def bounds(self, *flags):
        return ("bounds", tuple(str(f) == "true" for f in flags))

    def access_tail(self, *parts):
        return dict(p for p in parts if p is not None)

    def load(self, var, index, tail):
        return ir.Load(str(var)[1:], index, tail.get("other"), tail.get("mask"), tail.get("bounds"))

    def op(self, name, *rest):
        attrs, args = (), []
        for r in rest:
            if r is None:
                continue
            if isinstance(r, tuple):
                attrs = r
            else:
                args.append(r)
        return ir.Op(str(name), tuple(args), attrs)

    # statements
    def assign(self, var, vtype, expr, loc=None):
        return ir.Assign(str(var)[1:], vtype, expr, loc)

    def store(self, kind, var, index, value, tail, loc=None):
        atomic = str(kind)[len("atomic_"):] if str(kind).startswith("atomic_") else None
        return ir.Store(str(var)[1:], index, value, tail.get("mask"), tail.get("bounds"), loc, atomic)

    def tilevar(self, name, extent, block):
        return ir.TileVar(str(name), extent, block)

    def order(self, group=None):
        return ("order", "grouped", int(group) if group is not None else 0)

    def runtime_tilevar(self, name, lo, hi, block):
        return ir.TileVar(str(name), None, block, lo, hi)

    def branch(self, *stmts):
        return _Branch(tuple(s for s in stmts if s is not None))

    def if_stmt(self, cond, *rest):
        loc = next((r for r in rest if isinstance(r, Loc)), None)
        then, orelse = (r.stmts for r in rest if isinstance(r, _Branch))
        return ir.If(cond, then, orelse, loc)

    def loop(self, kind, *rest):
        tiles = tuple(r for r in rest if isinstance(r, ir.TileVar))
        loc = next((r for r in rest if isinstance(r, Loc)), None)
        body = tuple(r for r in rest if isinstance(r, _STMTS))
        order = next((r for r in rest if isinstance(r, tuple) and r[:1] == ("order",)), ("order", "row", 0))
        return ir.TileLoop(tiles, body, str(kind) == "parallel", loc, order[1], order[2])

    # kernel
    def param(self, var, ptype):
        return ir.Param(str(var)[1:], ptype, None)

    def fact_div(self, name, value):
        return ir.Assumption(str(name), "div", int(value))

    def fact_eq(self, name, value):
        return ir.Assumption(str(name), "eq", int(value))

    def where(self, *facts):
        return ("where", tuple(facts))

    def config(self, *items):
        return ("config", tuple((str(items[i]), int(items[i + 1])) for i in range(0, len(items), 2)))

    def kernel(self, name, *rest):
        params = tuple(r for r in rest if isinstance(r, ir.Param))
        tagged = dict(r for r in rest if isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], str))
        loc = next((r for r in rest if isinstance(r, Loc)), None)
        body = tuple(r for r in rest if isinstance(r, _STMTS))
        return ir.Kernel(str(name), params, body, tagged.get("where", ()), tagged.get("config", ()), loc)

    def start(self, kernel):
        return kernel


def parse(text: str) -> ir.Kernel:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as e:
        line = text.splitlines()[e.line - 1] if 0 < e.line <= len(text.splitlines()) else ""
        raise IRParseError(f"IR text does not parse at line {e.line}, column {e.column}:\n    {line}\n    "
                           f"{' ' * (e.column - 1)}^") from None
    except LarkError as e:
        raise IRParseError(f"IR text does not parse: {e}") from None
    try:
        return _Build().transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, IRParseError):
            raise e.orig_exc from None
        raise IRParseError(f"IR text is malformed: {e.orig_exc}") from None
