"""The Ascend variant of the explicit-memory lowering: tile IR -> a program for one AI core.

An Ascend AI core is not a block of SIMT threads: one scalar unit issues whole-tile instructions to
its pipes (vector, cube, and the MTE copy engines). So the program is the explicit-memory level
lowered for one thread (`threads 1`: every statement covers its whole tile), and this pass then
places every buffer in the core's memories:

- `ub` (Unified Buffer, 192 KB on 910B): every tile value the vector unit or the scalar unit
  computes. Copies between global memory and UB go through VECIN / VECOUT queues; the renderer
  (backends/ascend/render.py) writes that queue discipline and the pipe synchronisation.
- `local`: rank-0 values computed from scalars only (scalar-unit registers).
- `l1`, `l0a`, `l0b`, `l0c`: the Cube route of a matrix product (see `cube_route`): operands copied
  from global memory into L1 in 16x16 fractals, loaded into L0A / L0B, multiplied into an f32
  accumulator in L0C that is written back to global memory by the fixpipe.

Barriers of the SIMT lowering are dropped: inside one core, ordering is the pipes' business and
the renderer's queue/flag discipline provides it (the emulator checks it).
"""

from __future__ import annotations

import dataclasses

from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.memir import nodes as M
from tilelang.memir.verifier import verify_memkernel

from .lower_memory import lower_to_memory

# What the renderer can copy with the Cube unit: 16-bit operands, f32 accumulation.
CUBE_DTYPES = ("f16", "bf16")
FRACTAL = 16


def _no_barriers(stmts):
    out = []
    for s in stmts:
        if isinstance(s, M.Barrier):
            continue
        if isinstance(s, ir.TileLoop):
            s = ir.TileLoop(s.tiles, tuple(_no_barriers(s.body)), s.parallel, s.loc)
        out.append(s)
    return out


def _reads(mk: M.MemKernel) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in M.walk(mk.body):
        names = (M.put_operand_names(s.store) if isinstance(s, M.Put)
                 else M.operand_names(s.value) if isinstance(s, M.Compute) else [])
        for n in names:
            counts[n] = counts.get(n, 0) + 1
    return counts


def cube_route(mk: M.MemKernel) -> dict[str, str] | None:
    """Spaces for a kernel that is exactly a GEMM the Cube unit runs alone (an AIC kernel):

        acc = full 0 (f32[BM, BN])
        tile seq (k) { a = load A[m, k]; b = load B[k, n]; d = dot a, b; acc = add acc, d }
        c = cast acc (optional); put C[m, n] = c

    with 16-bit A and B, tile indices only, and BM, BN, BK whole fractals. Anything else returns
    None and the product runs on the vector / scalar units. (On 910B the Cube and the Vector units
    are separate cores; a kernel mixing them needs the AIC/AIV split, which is not rendered.)"""
    grid = mk.grid_loop
    body = grid.body
    if len(body) not in (3, 4) or not isinstance(body[1], ir.TileLoop):
        return None
    init, loop, *tail = body
    reads = _reads(mk)
    if not (isinstance(init, M.Compute) and isinstance(init.value, ir.Op) and init.value.name == "full"
            and init.value.attr("value") == 0):
        return None
    acc = mk.buffer(init.out)
    if acc.dtype != "f32" or len(acc.shape) != 2 or any(d % FRACTAL for d in acc.shape):
        return None
    inner = loop.body
    if len(loop.tiles) != 1 or len(inner) != 4 or not all(isinstance(s, M.Compute) for s in inner):
        return None
    la, lb, dot, add = inner
    if not (isinstance(la.value, ir.Load) and isinstance(lb.value, ir.Load) and isinstance(dot.value, ir.Op)
            and dot.value.name == "dot" and [a.name for a in dot.value.args] == [la.out, lb.out]
            and isinstance(add.value, ir.Op) and add.value.name == "add" and add.out == acc.name
            and [getattr(a, "name", None) for a in add.value.args] == [acc.name, dot.out]):
        return None
    for ld in (la, lb):
        b = mk.buffer(ld.out)
        if (b.dtype not in CUBE_DTYPES or ld.value.mask is not None or len(ld.value.index) != 2
                or any(not isinstance(it, ir.TileIndex) for it in ld.value.index)
                or any(d % FRACTAL for d in b.shape) or reads.get(ld.out) != 1
                or (ld.value.other is not None and getattr(ld.value.other, "value", 0) != 0)):
            return None
    if mk.buffer(la.out).dtype != mk.buffer(lb.out).dtype or reads.get(dot.out) != 1:
        return None
    *cast, put = tail
    if not isinstance(put, M.Put) or put.store.mask is not None or len(put.store.index) != 2 \
            or any(not isinstance(it, ir.TileIndex) for it in put.store.index):
        return None
    stored = acc.name
    if cast:
        (c,) = cast
        if not (isinstance(c, M.Compute) and isinstance(c.value, ir.Op) and c.value.name == "cast"
                and c.value.args[0] == ir.Var(acc.name) and mk.buffer(c.out).dtype in ("f32",) + CUBE_DTYPES
                and reads.get(c.out) == 1):
            return None
        stored = c.out
    if put.store.value != ir.Var(stored) or reads.get(acc.name) != 1 + bool(cast):
        return None
    if mk.param(put.store.tensor).type.dtype != mk.buffer(stored).dtype:
        return None
    spaces = {la.out: "l1", lb.out: "l1", dot.out: "l0c", acc.name: "l0c"}
    if cast:
        spaces[cast[0].out] = "l0c"  # the fixpipe converts on its way out; never materialised
    return spaces


def place_ascend(mk: M.MemKernel) -> M.MemKernel:
    """Assign Ascend memory spaces to a one-thread explicit-memory program."""
    if mk.threads != 1:
        raise BackendError("the Ascend lowering takes a one-thread (threads 1) explicit-memory program", mk.loc)
    for b in mk.buffers:
        if b.dtype == "f64":
            raise BackendError("Ascend AI cores have no f64 arithmetic; compute in f32", mk.loc)
    for p in mk.params:
        if p.type.dtype == "f64":
            raise BackendError(f"`{p.name}` is f64, which Ascend AI cores do not compute in; pass f32", p.loc)
    mk = dataclasses.replace(mk, body=tuple(_no_barriers(mk.body)))
    replicated = {s.out for s in M.walk(mk.body) if isinstance(s, M.Compute) and s.map == "uniform"}
    cube = cube_route(mk) or {}
    buffers = tuple(dataclasses.replace(b, space=cube.get(b.name, "local" if b.name in replicated and not b.shape
                                                          else "ub"))
                    for b in mk.buffers)
    out = dataclasses.replace(mk, buffers=buffers)
    verify_memkernel(out)
    return out


def lower_to_ascend(kernel: ir.Kernel, ctx=None) -> M.MemKernel:
    """The Ascend program of a tile kernel whose tiling and masking passes have run."""
    return place_ascend(lower_to_memory(kernel, ctx, threads=1, target=None))
