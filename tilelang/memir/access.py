"""Which thread touches which element: the facts the lowering, the verifier, the barrier placement
and the interpreter share about a statement's accesses."""

from __future__ import annotations

from math import prod

import numpy as np
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


def natural_reads(stmt, out_shape: tuple[int, ...], shape_of, map_of=None) -> dict[str, bool]:
    """For each buffer/scalar variable `stmt` reads: whether each element it reads is read by the
    thread that owns that element (so no other thread's write can be involved): the statement is
    elementwise, the operand has the output's shape and was written under the statement's own
    thread map. `map_of(name)` gives that map (None: unknown, taken as the statement's; the
    default takes every buffer as cyclic)."""
    if map_of is None:
        map_of = lambda n: "cyclic"  # noqa: E731
    if isinstance(stmt, M.Put):
        names = M.put_operand_names(stmt.store)
        elementwise = True
    else:
        names = M.operand_names(stmt.value)
        elementwise = is_elementwise(stmt.value)
    distributed = stmt.map != "uniform"
    # a reshape under the cyclic map reads operand element e (row-major) from the thread that has it
    flat = isinstance(stmt, M.Compute) and getattr(stmt.value, "name", None) == "reshape" and stmt.map == "cyclic"
    out: dict[str, bool] = {}
    for n in names:
        m = map_of(n)
        shape = tuple(shape_of(ir.Var(n)))
        same = shape == tuple(out_shape) or (flat and prod(shape) == prod(out_shape))
        ok = distributed and (elementwise or flat) and same and m in (None, stmt.map)
        out[n] = out.get(n, True) and ok
    return out


def read_ids(value, out_shape, buf_shapes: dict) -> list:
    """(variable, flat element ids it reads) per buffer operand of a statement computing (or
    storing) `out_shape`: ids are shaped out_shape + (k,), the k elements that output element
    reads (k > 1 for reductions and matrix products)."""
    out = []
    if isinstance(value, ir.Op):
        for pos, a in enumerate(value.args):
            if isinstance(a, ir.Var) and a.name in buf_shapes:
                out.append((a.name, op_read_ids(value, pos, buf_shapes[a.name], out_shape)))
        return out
    # a Load or a Store: index tiles are placed along their axes; mask / other / value broadcast
    axis, rank = 0, len(out_shape)
    for it in value.index:
        if isinstance(it, ir.TileIndex):
            axis += 1
            continue
        v = it.value
        if isinstance(v, ir.Var) and v.name in buf_shapes:
            shp = buf_shapes[v.name]
            ids = np.arange(prod(shp)).reshape((1,) * axis + shp + (1,) * (rank - axis - len(shp)))
            out.append((v.name, np.broadcast_to(ids, out_shape)[..., None]))
            axis += len(shp)
    extra = [value.other, value.mask] if isinstance(value, ir.Load) else [value.value, value.mask]
    for v in extra:
        if isinstance(v, ir.Var) and v.name in buf_shapes:
            shp = buf_shapes[v.name]
            out.append((v.name, np.broadcast_to(np.arange(prod(shp)).reshape(shp), out_shape)[..., None]))
    return out


def op_read_ids(op: ir.Op, pos: int, shape, out_shape) -> np.ndarray:
    ids = np.arange(prod(shape)).reshape(shape)
    name, kind = op.name, OPS[op.name].kind
    if kind in ELEMENTWISE_KINDS or name in ELEMENTWISE_OPS or name == "broadcast_to":
        return np.broadcast_to(ids, out_shape)[..., None]
    if name == "expand_dims":
        return np.expand_dims(ids, op.attr("axis"))[..., None]
    if name == "trans":
        return ids.T[..., None]
    if kind == "reduce":
        return np.moveaxis(ids, op.attr("axis") % len(shape), -1)
    if name == "dot" and len(out_shape) == 3:  # batched: each batch index reads its own matrices
        bt, m, n = out_shape
        if pos == 0:
            return np.broadcast_to(ids[:, :, None, :], (bt, m, n, shape[2]))
        return np.broadcast_to(np.swapaxes(ids, 1, 2)[:, None, :, :], (bt, m, n, shape[1]))
    if name == "dot":
        m, n = out_shape
        if pos == 0:
            return np.broadcast_to(ids[:, None, :], (m, n, shape[1]))
        return np.broadcast_to(ids.T[None, :, :], (m, n, shape[0]))
    if name == "reshape":  # the same row-major element
        return ids.reshape(out_shape)[..., None]
    if name == "slice":
        ax = op.attr("axis") % len(shape)
        return np.take(ids, np.arange(op.attr("start"), op.attr("end")), axis=ax)[..., None]
    raise ValueError(f"no read pattern for op `{name}`")
