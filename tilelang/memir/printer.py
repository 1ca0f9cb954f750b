"""Text form of the explicit-memory level, in the tile IR's spelling (tilelang/ir/printer.py) with
buffer declarations, `map` clauses and barriers added. memir.parser reads it back."""

from __future__ import annotations

from tilelang.ir import nodes as ir
from tilelang.ir.printer import fmt_access_tail, fmt_expr, fmt_index, fmt_loc, fmt_tilevar, fmt_value
from tilelang.ir.types import format_expr

from . import nodes as M


def _print_stmts(stmts, indent: int, out: list[str]):
    pad = "  " * indent
    for s in stmts:
        if isinstance(s, M.Compute):
            out.append(f"{pad}%{s.out} = {fmt_expr(s.value)} map {s.map}{fmt_loc(s.loc)}")
        elif isinstance(s, M.Put):
            st = s.store
            kw = f"atomic_{st.atomic}" if st.atomic else "store"
            out.append(f"{pad}{kw} %{st.tensor}[{fmt_index(st.index)}], {fmt_value(st.value)}"
                       f"{fmt_access_tail(None, st.mask, st.bounds)} map {s.map}{fmt_loc(st.loc)}")
        elif isinstance(s, M.Barrier):
            out.append(f"{pad}barrier{fmt_loc(s.loc)}")
        elif isinstance(s, M.AsyncCopy):
            first = " first" if s.first else ""
            vec = f" vec {s.vec}" if s.vec != 1 else ""
            out.append(f"{pad}%{s.out} = async ahead {s.ahead}{first}{vec} {fmt_expr(s.load)}{fmt_loc(s.loc)}")
        elif isinstance(s, M.Commit):
            out.append(f"{pad}commit{fmt_loc(s.loc)}")
        elif isinstance(s, M.Wait):
            out.append(f"{pad}wait {s.pending}{fmt_loc(s.loc)}")
        elif isinstance(s, ir.If):
            out.append(f"{pad}if {fmt_value(s.cond)}{fmt_loc(s.loc)} {{")
            _print_stmts(s.then, indent + 1, out)
            out.append(f"{pad}}} else {{")
            _print_stmts(s.orelse, indent + 1, out)
            out.append(f"{pad}}}")
        elif isinstance(s, ir.TileLoop):
            tiles = ", ".join(fmt_tilevar(t) for t in s.tiles)
            kind = "parallel" if s.parallel else "seq"
            out.append(f"{pad}tile {kind} ({tiles}){fmt_loc(s.loc)} {{")
            _print_stmts(s.body, indent + 1, out)
            out.append(f"{pad}}}")
        else:
            raise TypeError(f"not a memory-level statement: {s!r}")


def print_memkernel(k: M.MemKernel) -> str:
    params = ", ".join(f"%{p.name}: {p.type}" for p in k.params)
    out = [f"memkernel @{k.name}({params}) threads {k.threads}"]
    if k.assumptions:
        facts = ", ".join(f"{a.symbol} % {a.value} == 0" if a.kind == "div" else f"{a.symbol} == {a.value}"
                          for a in k.assumptions)
        out.append(f"  where {facts}")
    if k.config:
        out.append("  config " + ", ".join(f"{n} = {v}" for n, v in k.config))
    if k.loc is not None:
        out.append(" " + fmt_loc(k.loc).strip())
    out.append("{")
    for b in k.buffers:
        dims = "[" + ", ".join(map(str, b.shape)) + "]" if b.shape else ""
        swz = f" swizzle({', '.join(map(str, b.swizzle))})" if b.swizzle else ""
        swz += f" ring({b.ring[0]}, {b.ring[1]})" if b.ring else ""
        out.append(f"  {b.space} %{b.name}: {b.dtype}{dims}{swz}")
    _print_stmts(k.body, 1, out)
    out.append("}")
    return "\n".join(out) + "\n"
