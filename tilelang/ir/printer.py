"""The IR's text form. `tilelang.ir.parser.parse` reads it back: parse(print_kernel(k)) == k."""

from __future__ import annotations

import json
import math

from . import nodes as ir
from .types import format_expr

# Attributes whose values are size expressions (sympy) rather than plain Python values.
SIZE_ATTRS = frozenset({"shape", "block", "expr"})


def fmt_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def fmt_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return fmt_float(v)


def fmt_value(v: ir.Value) -> str:
    if isinstance(v, ir.Var):
        return f"%{v.name}"
    return f"{fmt_scalar(v.value)}:{v.dtype}"


def fmt_attr(key: str, v) -> str:
    if key in SIZE_ATTRS:
        if isinstance(v, tuple):
            return "[" + ", ".join(format_expr(d) for d in v) + "]"
        return format_expr(v)
    if key == "dtype":
        return v
    if isinstance(v, str):
        return json.dumps(v)
    return fmt_scalar(v)


def fmt_loc(loc) -> str:
    if loc is None:
        return ""
    return f" loc({json.dumps(loc.file)}:{loc.line}:{loc.col})"


def fmt_index(index) -> str:
    return ", ".join(it.tile if isinstance(it, ir.TileIndex) else fmt_value(it.value) for it in index)


def fmt_access_tail(other, mask, bounds) -> str:
    out = ""
    if other is not None:
        out += f" other {fmt_value(other)}"
    if mask is not None:
        out += f" mask {fmt_value(mask)}"
    if bounds is not None:
        out += " bounds [" + ", ".join("true" if b else "false" for b in bounds) + "]"
    return out


def fmt_expr(e) -> str:
    if isinstance(e, ir.Load):
        return f"load %{e.tensor}[{fmt_index(e.index)}]" + fmt_access_tail(e.other, e.mask, e.bounds)
    args = ", ".join(fmt_value(a) for a in e.args)
    text = e.name + (f" {args}" if args else "")
    if e.attrs:
        text += " {" + ", ".join(f"{k} = {fmt_attr(k, v)}" for k, v in e.attrs) + "}"
    return text


def fmt_tilevar(t: ir.TileVar) -> str:
    if t.is_runtime:  # the half-open element range [lo, hi)
        return f"{t.name} in [{fmt_value(t.lo)}, {fmt_value(t.hi)}) by {format_expr(t.block)}"
    return f"{t.name} in {format_expr(t.extent)} by {format_expr(t.block)}"


def print_stmts(stmts, indent: int, out: list[str]):
    pad = "  " * indent
    for s in stmts:
        if isinstance(s, ir.Assign):
            out.append(f"{pad}%{s.name}: {s.type} = {fmt_expr(s.value)}{fmt_loc(s.loc)}")
        elif isinstance(s, ir.Store):
            kw = f"atomic_{s.atomic}" if s.atomic else "store"
            out.append(f"{pad}{kw} %{s.tensor}[{fmt_index(s.index)}], {fmt_value(s.value)}"
                       f"{fmt_access_tail(None, s.mask, s.bounds)}{fmt_loc(s.loc)}")
        elif isinstance(s, ir.TileLoop):
            tiles = ", ".join(fmt_tilevar(t) for t in s.tiles)
            kind = "parallel" if s.parallel else "seq"
            if s.order != "row":
                kind += f" {s.order}" + (f" {s.group}" if s.group else "")
            out.append(f"{pad}tile {kind} ({tiles}){fmt_loc(s.loc)} {{")
            print_stmts(s.body, indent + 1, out)
            out.append(f"{pad}}}")
        elif isinstance(s, ir.If):
            out.append(f"{pad}if {fmt_value(s.cond)}{fmt_loc(s.loc)} {{")
            print_stmts(s.then, indent + 1, out)
            out.append(f"{pad}}} else {{")
            print_stmts(s.orelse, indent + 1, out)
            out.append(f"{pad}}}")


def print_kernel(k: ir.Kernel) -> str:
    params = ", ".join(f"%{p.name}: {p.type}" for p in k.params)
    out = [f"kernel @{k.name}({params})"]
    if k.assumptions:
        facts = ", ".join(f"{a.symbol} % {a.value} == 0" if a.kind == "div" else f"{a.symbol} == {a.value}"
                          for a in k.assumptions)
        out.append(f"  where {facts}")
    if k.config:
        out.append("  config " + ", ".join(f"{n} = {v}" for n, v in k.config))
    if k.loc is not None:
        out.append(" " + fmt_loc(k.loc).strip())
    out.append("{")
    print_stmts(k.body, 1, out)
    out.append("}")
    return "\n".join(out) + "\n"
