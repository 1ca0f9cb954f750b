"""Program order: bind the launch grid's order and GROUP_M.

A Config with `group_m=G` puts any grid of two or more tiles in grouped order with G rows per band
(a permutation of independent programs: the answer cannot change, only which tiles share L2); a
kernel written with `tl.tile([M, N], order="grouped")` gets the Config's G or the default 8. The
formula itself lives in tilelang/ir/program_order.py, shared by every backend.
"""

from __future__ import annotations

from tilelang.ir import nodes as ir
from tilelang.ir.program_order import DEFAULT_GROUP

from .context import PassContext


def order_programs(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    grid = kernel.grid_loop
    group = ctx.config.group_m
    if len(grid.tiles) < 2:
        order, group = "row", 0  # one grid dimension: every order is the same
    elif group:
        order = "grouped"
    elif grid.order == "grouped":
        order, group = "grouped", grid.group or DEFAULT_GROUP
    else:
        return kernel
    if (order, group) == (grid.order, grid.group):
        return kernel
    new = ir.TileLoop(grid.tiles, grid.body, True, grid.loc, order, group)
    body = tuple(new if s is grid else s for s in kernel.body)
    return ir.Kernel(kernel.name, kernel.params, body, kernel.assumptions, kernel.config, kernel.loc)
