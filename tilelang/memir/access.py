"""Which thread touches which element: the facts the lowering, the verifier, the barrier placement
and the interpreter share about a statement's accesses."""

from __future__ import annotations

import sympy

from tilelang.ir import nodes as ir
from tilelang.ir.ops import OPS

from . import nodes as M

# Ops that read each operand at the output element's own (broadcast) position.
ELEMENTWISE_KINDS = ("binary", "compare", "unary")
ELEMENTWISE_OPS = ("where", "cast", "copy")


def is_elementwise(value) -> bool:
    """Loads and elementwise ops: the thread computing output element e reads operand element e
    (after broadcasting), so an operand of the output's exact shape is read by e's own thread."""
    if isinstance(value, ir.Load):
        return True
    return OPS[value.name].kind in ELEMENTWISE_KINDS or value.name in ELEMENTWISE_OPS


def access_shape(index, blocks: dict, shape_of) -> tuple[int, ...]:
    """The shape of a tensor access: a tile index contributes its block, a value index its own shape."""
    out: list[int] = []
    for it in index:
        if isinstance(it, ir.TileIndex):
            out.append(int(blocks[it.tile]))
        else:
            out.extend(shape_of(it.value))
    return tuple(out)


def concrete(shape) -> tuple[int, ...]:
    out = []
    for d in shape:
        d = sympy.sympify(d)
        if not d.is_Integer:
            raise ValueError(f"size {d} is not concrete")
        out.append(int(d))
    return tuple(out)


def natural_reads(stmt, out_shape: tuple[int, ...], shape_of) -> dict[str, bool]:
    """For each buffer/scalar variable `stmt` reads: whether each element it reads is read by the
    thread that owns that element under the cyclic map of the variable's own shape (so no other
    thread's write can be involved)."""
    if isinstance(stmt, M.Put):
        names = M.put_operand_names(stmt.store)
        cyclic, elementwise = stmt.map == "cyclic", True
    else:
        names = M.operand_names(stmt.value)
        cyclic, elementwise = stmt.map == "cyclic", is_elementwise(stmt.value)
    out: dict[str, bool] = {}
    for n in names:
        ok = cyclic and elementwise and tuple(shape_of(ir.Var(n))) == tuple(out_shape)
        out[n] = out.get(n, True) and ok
    return out
