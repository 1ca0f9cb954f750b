"""Reduction padding: reductions ignore the positions of a tile that lie past its extent.

A tile over extent E with block B has B positions, of which those at or past E are padding: loads
give them the fill value (`other`, default 0), so without this pass `tl.max(x[m, n], axis=1)` of
negative numbers would return 0 from a partial last tile, and the answer would differ between a
target that pads a whole dimension to a power of two (Triton) and one that does not (cpu,
reference). This pass makes the semantics what the user wrote: a reduction along an axis whose
indices come from a tile `t` first replaces `t`'s padded positions with the reduction's identity
(0 for sum, -inf / the dtype's minimum for max and argmax, +inf / the maximum for min and argmin):

    %x' = where(t.index < E, %x, identity)      (the compare broadcast along the reduced axis)

For a runtime-bounded tile (`tl.tile(lo, hi)`) the padding is at and past `hi`, so E is `hi` there
(nothing is proven about such a tile: the compare always stays). Reductions inside `if` branches
are rewritten like any other.

Skipped (no change) where it is not needed or would be wrong:
- sympy proves `E % B == 0` under the kernel's assumptions (no padding; the masking pass's proof);
- the reduction sits outside the loop of `t` (the value was carried out of it), or the reduced
  value depends on a loop-carried variable (its padded positions may hold real data from an
  earlier iteration): such positions are the user's business, as before.
Axis provenance (which tile an axis ranges over) is the soundness analysis's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import sympy

from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.ir.ops import OPS
from tilelang.ir.types import ValueType

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
        tiles = [scope.get(name) for name in sorted(axes[axis])]
        if not tiles or any(t is None for t in tiles):
            return [s]  # an axis from no tile, or from a loop this statement is not inside
        tiles = [t for t in tiles if self.padded(t)]
        if not tiles or any(sympy.simplify(t.block - xt.shape[axis]) != 0 for t in tiles):
            return [s]
        if not self.single_assignment_slice(x):
            return [s]
        out: list[ir.Assign] = []

        def emit(vt: ValueType, expr) -> ir.Var:
            name = self.fresh()
            out.append(ir.Assign(name, vt, expr, s.loc))
            return ir.Var(name)

        block = xt.shape[axis]
        valid = None
        for t in tiles:
            idx = emit(ValueType("i32", (block,)), ir.Op("tile_index", (), (("block", t.block), ("tile", t.name))))
            ext = t.hi if t.is_runtime else emit(ValueType("i32"), ir.Op("size", (), (("expr", t.extent),)))
            ok = emit(ValueType("bool", (block,)), ir.Op("lt", (idx, ext)))
            valid = ok if valid is None else emit(ValueType("bool", (block,)), ir.Op("and", (valid, ok)))
        shape = [block]
        for i in range(axis):  # size-1 axes before the reduced one ...
            shape.insert(0, sympy.Integer(1))
            valid = emit(ValueType("bool", tuple(shape)), ir.Op("expand_dims", (valid,), (("axis", 0),)))
        for i in range(xt.rank - 1 - axis):  # ... and after it, so `where` broadcasts along it only
            shape.append(sympy.Integer(1))
            valid = emit(ValueType("bool", tuple(shape)), ir.Op("expand_dims", (valid,), (("axis", len(shape) - 1),)))
        fill = ir.Const(_identity(e.name, xt.dtype), xt.dtype)
        masked = emit(xt, ir.Op("where", (valid, x, fill)))
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
            else:
                out.append(s)
        return tuple(out)


def pad_reductions(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    r = _Rewriter(kernel)
    body = r.visit(kernel.body, {})
    if r.count == 0:
        return kernel
    return dataclasses.replace(kernel, body=body)
