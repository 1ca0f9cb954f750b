"""Padding: a tile's positions past its extent never count, whatever the backend.

A tile over extent E with block B has B positions, of which those at or past E (or at or past `hi`
for a runtime-bounded tile) are padding: loads give them the fill value (`other`, default 0). Two
places would let that fill value change a result, and this pass closes both:

1. Reductions. Without it `tl.max(x[m, n], axis=1)` of negative numbers would return 0 from a
   partial last tile, and the answer would differ between a target that pads a whole dimension to
   a power of two (Triton) and one that does not (cpu, reference). A reduction along an axis that
   ranges over a tile `t` first replaces `t`'s padded positions with the reduction's identity (0 for
   sum, -inf / the dtype's minimum for max and argmax, +inf / the maximum for min and argmin):

       %x' = where(t.index < E, %x, identity)      (the compare broadcast along the reduced axis)

2. Gathers and scatters through values loaded over a padded tile (`rows = idx[g]`, then
   `out[rows, d] = ...` or `v[rows, d]`): the padded positions of `rows` hold the fill value, a real
   index (0), so a scatter would overwrite row 0 and a gather would read it into a contraction. The
   access gets the mask `t.index < E` (and-ed with the user's), so those positions are skipped
   like positions past a tensor's edge (a load yields its fill value there).

Skipped (no change) where it is not needed or would be wrong:
- sympy proves `E % B == 0` under the kernel's assumptions (no padding; the masking pass's proof);
- the statement sits outside the loop of `t` (the value was carried out of it), or the value
  depends on a loop-carried variable (its padded positions may hold real data from an earlier
  iteration): such positions are the user's business, as before.
Axis provenance (which tile an axis ranges over) is the soundness analysis's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy

from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.ir.ops import OPS
from tilelang.ir.types import ValueType, broadcast_shapes

from .context import PassContext
from .masking import facts
from .soundness import PADDING_SUFFIX, REDUCTIONS, _Analysis

_LOWEST = ("max", "argmax")  # reductions whose identity is the lowest value


def _identity(op: str, dtype: str):
    """The value a padded position takes so that it never changes the reduction's result."""
    if op == "sum":
        return False if dtype == "bool" else 0 if dtypes.is_int(dtype) else 0.0
    low = op in _LOWEST
    if dtype == "bool":
        return not low
    if dtypes.is_int(dtype):
        info = np.iinfo(dtypes.NUMPY_STORAGE[dtype])
        return int(info.min if low else info.max)
    return float("-inf") if low else float("inf")


def _is_reduction(e) -> bool:
    return isinstance(e, ir.Op) and (e.name in REDUCTIONS or (e.name in OPS and OPS[e.name].kind == "reduce")) \
        and e.attr("axis") is not None


class _Rewriter:
    def __init__(self, kernel: ir.Kernel):
        self.kernel = kernel
        self.analysis = _Analysis(kernel)
        self.analysis.run()
        self.subs = facts(kernel)
        self.count = 0

    def fresh(self) -> str:
        # Starts with a digit (so never a user's name) and is not all digits (never a frontend temporary).
        self.count += 1
        return f"{self.count}{PADDING_SUFFIX}"

    def padded(self, t: ir.TileVar) -> bool:
        if t.is_runtime:  # tl.tile(lo, hi): its positions at or past `hi` are padding, never proven absent
            return True
        extent, block = (sympy.sympify(x).subs(self.subs) for x in (t.extent, t.block))
        return sympy.simplify(sympy.Mod(extent, block)) != 0

    def single_assignment_slice(self, v) -> bool:
        """Whether every variable the value is computed from is assigned once (nothing loop-carried)."""
        seen, todo = set(), [v]
        while todo:
            x = todo.pop()
            if not isinstance(x, ir.Var) or x.name in seen:
                continue
            seen.add(x.name)
            defs = self.analysis.defs.get(x.name)
            if defs is None:
                continue  # a scalar parameter
            if len(defs) != 1:
                return False
            e = defs[0].value
            if isinstance(e, ir.Load):
                todo += [it.value for it in e.index if isinstance(it, ir.ValueIndex)] + [e.other, e.mask]
            else:
                todo += list(e.args)
        return True

    def emit(self, out: list, vt: ValueType, expr, loc) -> ir.Var:
        name = self.fresh()
        out.append(ir.Assign(name, vt, expr, loc))
        return ir.Var(name)

    def validity(self, positions, shape, out: list, loc) -> ir.Var:
        """A bool value broadcastable to `shape`: True where, at each (axis, tiles) of `positions`,
        the position lies before the extent (or `hi`) of every tile in `tiles`."""
        rank, valid = len(shape), None
        for axis, tiles in positions:
            block = shape[axis]
            here = None
            for t in tiles:
                idx = self.emit(out, ValueType("i32", (block,)),
                                ir.Op("tile_index", (), (("block", t.block), ("tile", t.name))), loc)
                ext = t.hi if t.is_runtime else self.emit(out, ValueType("i32"),
                                                          ir.Op("size", (), (("expr", t.extent),)), loc)
                ok = self.emit(out, ValueType("bool", (block,)), ir.Op("lt", (idx, ext)), loc)
                here = ok if here is None else self.emit(out, ValueType("bool", (block,)), ir.Op("and", (here, ok)), loc)
            dims = [block]
            for _ in range(axis):  # size-1 axes before this one ...
                dims.insert(0, sympy.Integer(1))
                here = self.emit(out, ValueType("bool", tuple(dims)), ir.Op("expand_dims", (here,), (("axis", 0),)), loc)
            for _ in range(rank - 1 - axis):  # ... and after it, so it broadcasts along this axis only
                dims.append(sympy.Integer(1))
                here = self.emit(out, ValueType("bool", tuple(dims)),
                                 ir.Op("expand_dims", (here,), (("axis", len(dims) - 1),)), loc)
            if valid is None:
                valid, valid_dims = here, tuple(dims)
            else:
                valid_dims = broadcast_shapes(valid_dims, tuple(dims))
                valid = self.emit(out, ValueType("bool", valid_dims), ir.Op("and", (valid, here)), loc)
        return valid

    def padded_tiles(self, provenance, size, scope) -> list:
        """The padded tiles an axis of `size` ranges over, or [] when there is nothing (sound) to mask."""
        tiles = [scope.get(name) for name in sorted(provenance)]
        if not tiles or any(t is None for t in tiles):
            return []  # an axis from no tile, or from a loop this statement is not inside
        tiles = [t for t in tiles if self.padded(t)]
        if any(sympy.simplify(t.block - size) != 0 for t in tiles):
            return []
        return tiles

    def mask_value_indices(self, s, access, scope):
        """(statements, mask) for a load or store whose value indices (gathers, scatters) carry a padded
        tile's positions: those positions are not real, so the access skips them (a load yields its fill
        value), as it skips positions past a tensor's edge. None when there is nothing to mask."""
        positions, shape = [], []
        for it in access.index:
            if isinstance(it, ir.TileIndex):
                shape.append(scope[it.tile].block)
                continue
            v = it.value
            defs = self.analysis.defs.get(v.name) if isinstance(v, ir.Var) else None
            if not defs:
                continue  # a scalar parameter or a constant: no axes
            vt, axes = defs[0].type, self.analysis.axes.get(v.name, ())
            if len(axes) == vt.rank and self.single_assignment_slice(v):
                for k in range(vt.rank):
                    tiles = self.padded_tiles(axes[k], vt.shape[k], scope)
                    if tiles:
                        positions.append((len(shape) + k, tiles))
            shape.extend(vt.shape)
        if not positions:
            return None
        out: list[ir.Assign] = []
        valid = self.validity(positions, tuple(shape), out, s.loc)
        if access.mask is not None:
            mt = self.value_type(access.mask)
            valid_shape = next(a.type.shape for a in out if a.name == valid.name)
            both = broadcast_shapes(mt.shape, valid_shape) if mt is not None else None
            if both is None:
                return None
            valid = self.emit(out, ValueType("bool", both), ir.Op("and", (access.mask, valid)), s.loc)
        return out, valid

    def value_type(self, v):
        if isinstance(v, ir.Var) and v.name in self.analysis.defs:
            return self.analysis.defs[v.name][0].type
        return None

    def rewrite(self, s: ir.Assign, scope: dict[str, ir.TileVar]) -> list[ir.Assign]:
        e = s.value
        x = e.args[0] if e.args else None
        if not isinstance(x, ir.Var):
            return [s]
        xt = self.analysis.defs[x.name][0].type if x.name in self.analysis.defs else None
        axes = self.analysis.axes.get(x.name, ())
        if xt is None or len(axes) != xt.rank or xt.rank == 0:
            return [s]
        axis = e.attr("axis") % xt.rank
        tiles = self.padded_tiles(axes[axis], xt.shape[axis], scope)
        if not tiles:
            return [s]
        if not self.single_assignment_slice(x):
            return [s]
        out: list[ir.Assign] = []
        valid = self.validity([(axis, tiles)], xt.shape, out, s.loc)
        fill = ir.Const(_identity(e.name, xt.dtype), xt.dtype)
        masked = self.emit(out, xt, ir.Op("where", (valid, x, fill)), s.loc)
        out.append(ir.Assign(s.name, s.type, ir.Op(e.name, (masked,) + e.args[1:], e.attrs), s.loc))
        return out

    def visit(self, stmts, scope: dict[str, ir.TileVar]) -> tuple:
        out = []
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                inner = dict(scope, **{t.name: t for t in s.tiles})
                out.append(dataclasses.replace(s, body=self.visit(s.body, inner)))
            elif isinstance(s, ir.If):
                out.append(dataclasses.replace(s, then=self.visit(s.then, scope), orelse=self.visit(s.orelse, scope)))
            elif isinstance(s, ir.Assign) and _is_reduction(s.value):
                out.extend(self.rewrite(s, scope))
            elif isinstance(s, (ir.Store, ir.Assign)) and (
                    masked := self.mask_value_indices(s, s if isinstance(s, ir.Store) else s.value, scope)
                    if isinstance(s, ir.Store) or isinstance(s.value, ir.Load) else None):
                stmts, mask = masked
                out.extend(stmts)
                if isinstance(s, ir.Store):
                    out.append(dataclasses.replace(s, mask=mask))
                else:
                    out.append(dataclasses.replace(s, value=dataclasses.replace(s.value, mask=mask)))
            else:
                out.append(s)
        return tuple(out)


def mask_padding(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    r = _Rewriter(kernel)
    body = r.visit(kernel.body, {})
    if r.count == 0:
        return kernel
    return dataclasses.replace(kernel, body=body)
