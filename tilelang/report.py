"""`tilelang report`: what the compiler decided about a kernel, and why.

For one kernel and signature it lists the final tile sizes (and where each came from), every bounds
mask the masking pass kept or proved away (with the assumptions the proof used), and every
soundness check with its outcome. The report is built from the same pipeline steps the compiler
runs, so it cannot disagree with it; a kernel the checker rejects is still reported in full.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .ir import nodes as ir
from .ir.types import format_expr


@dataclass(frozen=True)
class MaskLine:
    loc: object
    access: str  # e.g. "load a[m, k]"
    dim: int
    checked: bool
    reason: str


def _assumption_text(a: ir.Assumption) -> str:
    return f"{a.symbol} == {a.value}" if a.kind == "eq" else f"{a.symbol} % {a.value} == 0"


def explain_bound(kernel: ir.Kernel, tile: ir.TileVar, dim: sympy.Expr) -> tuple[bool, str]:
    """(check needed, why), with the same proof the masking pass does (passes.masking.needs_check)."""
    from tilelang.passes.masking import facts, needs_check

    if tile.is_runtime:
        return True, "kept: a runtime-bounded tile (tl.tile(lo, hi)) starts at a run-time offset (its own `< hi` " \
                     "limit is applied as well)"
    subs = facts(kernel)
    needed = needs_check(tile, dim, subs)
    syms = {s.name for x in (tile.extent, dim, tile.block) for s in sympy.sympify(x).free_symbols}
    used = [_assumption_text(a) for a in kernel.assumptions if a.symbol in syms]
    given = f" (from {', '.join(used)})" if used else ""
    e, b, d = (format_expr(x) for x in (tile.extent, tile.block, dim))
    if not needed:
        return False, f"proven away: {e} % {b} == 0 and extent {e} == size {d}{given}"
    extent, size, block = (sympy.sympify(x).subs(subs) for x in (tile.extent, dim, tile.block))
    missing = []
    if sympy.simplify(sympy.Mod(extent, block)) != 0:
        missing.append(f"{e} % {b} == 0")
    if sympy.simplify(extent - size) != 0:
        missing.append(f"{e} == {d}")
    return True, f"kept: cannot prove {' and '.join(missing)}{given}"


def masks(kernel: ir.Kernel) -> list[MaskLine]:
    """One line per dimension of every load and store, after the masking pass."""
    shapes = {p.name: p.type.shape for p in kernel.params if p.is_tensor}
    out: list[MaskLine] = []

    def index_text(index) -> str:
        from .ir.printer import fmt_value

        return ", ".join(it.tile if isinstance(it, ir.TileIndex) else fmt_value(it.value) for it in index)

    def visit(stmts, tiles):
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                visit(s.body, dict(tiles, **{t.name: t for t in s.tiles}))
                continue
            if isinstance(s, ir.If):
                visit(s.then, tiles)
                visit(s.orelse, tiles)
                continue
            if isinstance(s, ir.Assign) and isinstance(s.value, ir.Load):
                access, loc = s.value, s.loc
                what = f"load {access.tensor}[{index_text(access.index)}]"
            elif isinstance(s, ir.Store):
                access, loc = s, s.loc
                what = f"{'atomic_' + s.atomic if s.atomic else 'store'} {s.tensor}[{index_text(s.index)}]"
            else:
                continue
            if access.mask is not None:
                what += " (with a user mask)"
            for i, (it, dim) in enumerate(zip(access.index, shapes[access.tensor])):
                if isinstance(it, ir.TileIndex):
                    checked, why = explain_bound(kernel, tiles[it.tile], dim)
                else:
                    checked, why = False, "value index: never checked automatically (pass mask= where it may be out of range)"
                out.append(MaskLine(loc, what, i, checked, why))

    visit(kernel.body, {})
    return out


def tile_lines(before: ir.Kernel, after: ir.Kernel, config) -> list[str]:
    """Final tile per loop variable, with where its size came from."""
    original = {t.name: t for s in ir.walk(before.body) if isinstance(s, ir.TileLoop) for t in s.tiles}
    lines = []
    for s in ir.walk(after.body):
        if not isinstance(s, ir.TileLoop):
            continue
        for t in s.tiles:
            o = original.get(t.name)
            kind = "grid" if s.parallel else "sequential"
            if o is not None and o.whole:
                src = f"whole dimension {format_expr(o.extent)}"
                if t.block != t.extent:
                    src += " (padded to a power of two, masked)"
            elif o is not None and isinstance(o.block, sympy.Symbol):
                src = f"{o.block.name} from the Config" if config.get(o.block.name) is not None \
                    else f"{o.block.name}: the target's default"
            else:
                src = "fixed in the kernel"
            if t.is_runtime:
                from .ir.printer import fmt_value
                span = f"elements [{fmt_value(t.lo)}, {fmt_value(t.hi)}) (runtime bounds)"
            else:
                span = f"extent {format_expr(t.extent)}"
            lines.append(f"{t.name} ({kind}): {span}, block {format_expr(t.block)} -- {src}")
    return lines


def build_report(kernel, signature, config, backend, fixed_sizes=None) -> tuple[str, bool]:
    """(report text, whether the kernel is accepted) for a TileKernel on a backend's defaults."""
    from tilelang.errors import TileLangError
    from tilelang.passes import PIPELINE, PassContext
    from tilelang.passes.soundness import analyze
    from tilelang.ir.verifier import verify

    ctx = PassContext(config=config, target=backend.name, default_parallel_tile=backend.default_parallel_tile,
                      default_sequential_tile=backend.default_sequential_tile, pow2_tiles=backend.pow2_tiles)
    lowered = kernel.lower(signature, fixed_sizes, config)
    k = lowered
    for name, fn in PIPELINE:
        if name == "soundness":
            continue  # analyzed below, in full, instead of stopping at the first error
        k = verify(fn(k, ctx))
    grid, findings = analyze(k)
    out = [f"kernel {k.name} ({kernel.loc}) on backend {backend.name}"]
    out.append("assumptions: " + (", ".join(_assumption_text(a) for a in k.assumptions) or "none"))
    out.append("tiles:")
    out += [f"  {line}" for line in tile_lines(lowered, k, config)]
    out.append("grid tiles:")
    out += [f"  {g.why}" for g in grid.values()]
    out.append("masks:")
    for m in masks(k):
        out.append(f"  {m.loc}: {m.access} dim {m.dim}: {m.reason}")
    out.append("soundness checks:")
    for f in findings:
        out.append(f"  {f.loc}: {'ok   ' if f.ok else 'ERROR'} {f.check}: {f.message}")
    accepted = all(f.ok for f in findings)
    if accepted:
        try:
            PIPELINE[-1][1](k, ctx)
        except TileLangError:  # the checker and the report disagree: report it, never hide it
            accepted = False
    out.append("result: " + ("accepted" if accepted else
                             f"rejected ({sum(not f.ok for f in findings)} error(s))"))
    return "\n".join(out) + "\n", accepted
