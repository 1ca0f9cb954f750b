"""Tiling: bind every tile-size symbol to an integer from the Config (or the target's default)."""

from __future__ import annotations

import sympy

from tilelang.errors import ConfigError
from tilelang.ir import nodes as ir
from tilelang.ir.types import ValueType, size_subs

from .context import PassContext


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def choose_tile_sizes(kernel: ir.Kernel, ctx: PassContext) -> dict[str, int]:
    """Block symbol name -> size, from the Config, else from the target's defaults."""
    fixed = {a.symbol: a.value for a in kernel.assumptions if a.kind == "eq"}
    chosen: dict[str, int] = {}
    unknown = set(dict(ctx.config.tiles)) - set(ir.block_symbols(kernel))
    if unknown:
        names = ", ".join(ir.block_symbols(kernel)) or "none"
        raise ConfigError(f"Config sets {', '.join(sorted(unknown))}, which kernel `{kernel.name}` does not have "
                          f"(its tile sizes: {names})", kernel.loc)
    for s in ir.walk(kernel.body):
        if not isinstance(s, ir.TileLoop):
            continue
        for t in s.tiles:
            if not isinstance(t.block, sympy.Symbol) or t.block.name in chosen:
                continue
            given = ctx.config.get(t.block.name)
            if given is None:
                given = ctx.default_parallel_tile if s.parallel else ctx.default_sequential_tile
                extent = t.extent.subs(size_subs(fixed)) if t.extent is not None else None
                if extent is not None and extent.is_Integer:  # no point in a tile larger than the whole extent
                    given = min(given, _next_pow2(int(extent)))
            if ctx.pow2_tiles and given & (given - 1):
                raise ConfigError(f"tile size {t.block.name}={given} must be a power of two on target "
                                  f"{ctx.target}", s.loc)
            chosen[t.block.name] = given
    return chosen


def tile(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    sizes = choose_tile_sizes(kernel, ctx)
    subs = size_subs(sizes)
    return substitute_sizes(kernel, subs, config=tuple(sorted(sizes.items())))


def substitute_sizes(kernel: ir.Kernel, subs: dict, config=None) -> ir.Kernel:
    """Replace size symbols everywhere they occur: types, tile vars, op attrs."""
    if not subs:
        return kernel

    def sx(e):
        return e.subs(subs) if isinstance(e, sympy.Basic) else e

    def st(t: ValueType) -> ValueType:
        return ValueType(t.dtype, tuple(sx(d) for d in t.shape))

    def sattr(v):
        if isinstance(v, tuple):
            return tuple(sx(x) for x in v)
        return sx(v)

    def fix(s):
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Op):
            op = ir.Op(s.value.name, s.value.args, tuple((k, sattr(v)) for k, v in s.value.attrs))
            return ir.Assign(s.name, st(s.type), op, s.loc)
        if isinstance(s, ir.Assign):
            return ir.Assign(s.name, st(s.type), s.value, s.loc)
        if isinstance(s, ir.TileLoop):
            tiles = tuple(ir.TileVar(t.name, sx(t.extent), sx(t.block), t.lo, t.hi) for t in s.tiles)
            return ir.TileLoop(tiles, s.body, s.parallel, s.loc)
        return s

    return ir.Kernel(kernel.name, kernel.params, ir.map_body(kernel.body, fix), kernel.assumptions,
                     kernel.config if config is None else config, kernel.loc)
