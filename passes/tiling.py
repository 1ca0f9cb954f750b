"""Tiling: bind every tile-size symbol to an integer from the Config (or the target's default).

Whole-dimension tiles (`x[m, :]`, `tl.tile(D, block=D)`: block == extent == a size symbol D) need
D's value, which the caller fixes with an `eq` assumption (a call specializes the kernel on it; the
CLI takes `--shape D=...`). Their block becomes D itself, or the next power of two on targets that
need one (the positions past D are then masked like any partial tile). The extent and `size`
values keep D's true value; only tile shapes take the padded block.
"""

from __future__ import annotations

import sympy

from tilelang.errors import ConfigError
from tilelang.ir import nodes as ir
from tilelang.ir.types import ValueType, size_subs

from .context import PassContext


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


# Beside whole-dimension tiles, default tile sizes shrink so that a tile holds at most this many
# elements (a default BLOCK_M = 64 beside a whole row of 65536 would be 16 MiB per value).
WHOLE_TILE_ELEMENTS = 1 << 16


def _prev_pow2(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def choose_tile_sizes(kernel: ir.Kernel, ctx: PassContext) -> dict[str, int]:
    """Block symbol name -> size, from the Config, else from the target's defaults."""
    fixed = {a.symbol: a.value for a in kernel.assumptions if a.kind == "eq"}
    whole_elements = 1
    for name in ir.whole_dim_symbols(kernel):
        if name in fixed:
            whole_elements *= _next_pow2(fixed[name]) if ctx.pow2_tiles else fixed[name]
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
            if t.whole or not isinstance(t.block, sympy.Symbol) or t.block.name in chosen:
                continue
            given = ctx.config.get(t.block.name)
            if given is None:
                given = ctx.default_parallel_tile if s.parallel else ctx.default_sequential_tile
                if whole_elements > 1:
                    given = min(given, _prev_pow2(WHOLE_TILE_ELEMENTS // whole_elements))
                extent = t.extent.subs(size_subs(fixed)) if t.extent is not None else None
                if extent is not None and extent.is_Integer:  # no point in a tile larger than the whole extent
                    given = min(given, _next_pow2(int(extent)))
            if ctx.pow2_tiles and given & (given - 1):
                raise ConfigError(f"tile size {t.block.name}={given} must be a power of two on target "
                                  f"{ctx.target}", s.loc)
            chosen[t.block.name] = given
    return chosen


def whole_tile_blocks(kernel: ir.Kernel, ctx: PassContext) -> dict[str, tuple[int, int]]:
    """Size symbol spanned by a whole-dimension tile -> (its value, the block used for it)."""
    fixed = {a.symbol: a.value for a in kernel.assumptions if a.kind == "eq"}
    out = {}
    for name in ir.whole_dim_symbols(kernel):
        if name not in fixed:
            raise ConfigError(f"`{name}` is taken whole by a tile (`:` or block={name}), so its value must be "
                              f"known when compiling: calls specialize on it; ahead of time, pass "
                              f"--shape {name}=VALUE", kernel.loc)
        value = fixed[name]
        out[name] = (value, _next_pow2(value) if ctx.pow2_tiles else value)
    return out


def tile(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    sizes = choose_tile_sizes(kernel, ctx)
    whole = whole_tile_blocks(kernel, ctx)
    if whole:
        # First the true values into extents and `size` values, then the (maybe padded) blocks into
        # tile shapes: in that order the second substitution only reaches shapes.
        kernel = substitute_values(kernel, size_subs({k: v for k, (v, _) in whole.items()}))
        sizes = dict(sizes, **{k: b for k, (_, b) in whole.items()})
    subs = size_subs(sizes)
    config = sorted((k, v) for k, v in sizes.items() if k not in whole)
    return substitute_sizes(kernel, subs, config=tuple(config))


def substitute_values(kernel: ir.Kernel, subs: dict) -> ir.Kernel:
    """Replace size symbols where they stand for a size's value: tile extents and `size` ops."""
    def fix(s):
        if isinstance(s, ir.Assign) and isinstance(s.value, ir.Op) and s.value.name == "size":
            attrs = tuple((k, v.subs(subs) if k == "expr" else v) for k, v in s.value.attrs)
            return ir.Assign(s.name, s.type, ir.Op("size", s.value.args, attrs), s.loc)
        if isinstance(s, ir.TileLoop):
            tiles = tuple(ir.TileVar(t.name, t.extent.subs(subs) if t.extent is not None else None, t.block,
                                     t.lo, t.hi) for t in s.tiles)
            return ir.TileLoop(tiles, s.body, s.parallel, s.loc, s.order, s.group)
        return s

    return ir.Kernel(kernel.name, kernel.params, ir.map_body(kernel.body, fix), kernel.assumptions,
                     kernel.config, kernel.loc)


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
            return ir.TileLoop(tiles, s.body, s.parallel, s.loc, s.order, s.group)
        return s

    return ir.Kernel(kernel.name, kernel.params, ir.map_body(kernel.body, fix), kernel.assumptions,
                     kernel.config if config is None else config, kernel.loc)
