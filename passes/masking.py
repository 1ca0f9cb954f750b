"""Masking: decide, per load/store index, whether a bounds check against the tensor's size is needed.

A tile index over extent E with block B touches indices [0, ceil(E/B)*B) of a dimension of size D.
No check is needed when sympy proves ceil(E/B)*B <= D, i.e. (in the cases we prove) E % B == 0
and E == D, using the kernel's assumptions (`eq`: a concrete size; `div`: a known divisor).
Value indices (scalars, gathers) get no bounds flag here: backends always check them against the
tensor passed (docs/safety.md). A constant index that is outside the tensor whatever its size
(negative) or for the size the kernel was specialized to (`x[m, 5]` with N == 4) is rejected here,
at compile time, with the user's location.

A runtime-bounded tile (`for n in tl.tile(lo, hi)`) starts at a launch-time offset, so nothing is
proved about it: its accesses always keep the tensor-edge check. Its own `< hi` limit is part of
the tile's meaning (every backend applies it), not a check this pass can drop.
"""

from __future__ import annotations

import dataclasses

import sympy

from tilelang.errors import TileTypeError
from tilelang.ir import nodes as ir
from tilelang.ir.types import dim_symbol

from .context import PassContext


def facts(kernel: ir.Kernel) -> dict:
    """Substitution encoding the assumptions: M -> 512 (eq) or K -> 16*K__q (div, K__q a positive int)."""
    subs = {}
    for a in kernel.assumptions:
        s = dim_symbol(a.symbol)
        if a.kind == "eq":
            subs[s] = sympy.Integer(a.value)
        elif a.kind == "div":
            subs[s] = a.value * dim_symbol(f"{a.symbol}__q")
    return subs


def needs_check(tile: ir.TileVar, dim: sympy.Expr, subs: dict) -> bool:
    if tile.is_runtime:
        return True
    extent, size, block = (sympy.sympify(x).subs(subs) for x in (tile.extent, dim, tile.block))
    divides = sympy.simplify(sympy.Mod(extent, block)) == 0
    same = sympy.simplify(extent - size) == 0
    return not (divides and same)


def check_constant_index(tensor: str, dim: int, value: int, size: sympy.Expr, loc) -> None:
    if value < 0:
        raise TileTypeError(f"index {value} is out of range for dimension {dim} of `{tensor}`: indices start at 0 "
                            f"(negative indices do not count from the end)", loc)
    if size.is_Integer and value >= int(size):
        raise TileTypeError(f"index {value} is out of range for dimension {dim} of `{tensor}` (size {int(size)})",
                            loc)


def mask(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    subs = facts(kernel)
    shapes = {p.name: p.type.shape for p in kernel.params if p.is_tensor}

    def bounds(tensor: str, index, tiles: dict[str, ir.TileVar], loc=None) -> tuple[bool, ...]:
        for d, (it, dim) in enumerate(zip(index, shapes[tensor])):
            if isinstance(it, ir.ValueIndex) and isinstance(it.value, ir.Const) and it.value.dtype != "bool":
                check_constant_index(tensor, d, int(it.value.value), sympy.sympify(dim).subs(subs), loc)
        return tuple(
            needs_check(tiles[it.tile], dim, subs) if isinstance(it, ir.TileIndex) else False
            for it, dim in zip(index, shapes[tensor]))

    def visit(stmts, tiles):
        out = []
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                inner = dict(tiles, **{t.name: t for t in s.tiles})
                out.append(ir.TileLoop(s.tiles, tuple(visit(s.body, inner)), s.parallel, s.loc, s.order, s.group))
            elif isinstance(s, ir.If):
                out.append(ir.If(s.cond, tuple(visit(s.then, tiles)), tuple(visit(s.orelse, tiles)), s.loc))
            elif isinstance(s, ir.Assign) and isinstance(s.value, ir.Load):
                ld = s.value
                out.append(ir.Assign(s.name, s.type, ir.Load(ld.tensor, ld.index, ld.other, ld.mask,
                                                             bounds(ld.tensor, ld.index, tiles, s.loc)), s.loc))
            elif isinstance(s, ir.Store):
                out.append(dataclasses.replace(s, bounds=bounds(s.tensor, s.index, tiles, s.loc)))
            else:
                out.append(s)
        return out

    return ir.Kernel(kernel.name, kernel.params, tuple(visit(kernel.body, {})), kernel.assumptions,
                     kernel.config, kernel.loc)
