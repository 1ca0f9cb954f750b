"""Async pipelining on the explicit-memory level: a sequential tile loop that copies tiles from
global into shared memory becomes an N-stage ring filled by asynchronous copies (cp.async with
commit/wait groups on sm_80), so tile k+N-1 is in flight while tile k is used.

For a loop over tile k with N = Config.num_stages >= 2 and eligible loads L (below), the body
becomes

    L(ahead a, first iteration only) ; commit      for a = 0 .. N-2   (the prologue)
    wait N-2          -- this thread's copies of tile k have landed
    barrier           -- everyone's have, and everyone is done with tile k-1
    L(ahead N-1) ; commit                           (into the stage tile k-1 used)
    ... the rest of the body, reading stage k % N ...

Why it is safe: before the wait, this thread committed N-1+k groups (tiles 0..N+k-2), so waiting
for all but N-2 lands tiles 0..k; the barrier orders every thread's copies before every read and
every read of tile k-1 before the copy that reuses its stage. The memory-level interpreter checks
exactly this (a read of an element whose copy is still in flight, or a copy over an element another
thread may still read, is reported), on every pipelined kernel in the tests.

Eligible: a load into a shared buffer of a 2- or 4-byte dtype (f16, bf16, f32, i32), no user mask
and no fill value other than 0 (the copy zero-fills past the edge), indices that are tiles,
constants or scalar parameters, into a buffer written nowhere else and read only inside the loop.

Copies move 16-byte chunks (`vec` = 8 halves or 4 words, one cp.async.cg of 16 bytes each, the tail
of a row's last chunk zero-filled) when the load's last index is a tile whose rows divide into
chunks; the renderer checks at run time that the tensor is contiguous in that dimension with
16-byte aligned rows and otherwise copies the same chunks element by element. 2-byte tiles that
do not divide into chunks are copied element by element, synchronously at issue (cp.async has no
2-byte size), which the ring's ordering covers all the same.
"""

from __future__ import annotations

import dataclasses

from tilelang.ir import nodes as ir
from tilelang.memir import nodes as M

_ASYNC_DTYPES = ("f32", "i32", "f16", "bf16")
_BYTES = {"f16": 2, "bf16": 2, "f32": 4, "i32": 4}


def _vec(b: M.Buffer, ld: ir.Load) -> int:
    """Elements per 16-byte chunk of the copy, or 1 where the rows do not divide into chunks."""
    chunk = 16 // _BYTES[b.dtype]
    last = ld.index[-1] if ld.index else None
    return chunk if isinstance(last, ir.TileIndex) and b.shape and b.shape[-1] % chunk == 0 else 1


def _eligible(s, bufs, loop: ir.TileLoop, writers: dict, readers_outside: set) -> bool:
    if not (isinstance(s, M.Compute) and isinstance(s.value, ir.Load)):
        return False
    b, ld = bufs[s.out], s.value
    if b.space != "shared" or b.dtype not in _ASYNC_DTYPES or b.swizzle is not None or b.ring is not None:
        return False
    if ld.mask is not None or (ld.other is not None and getattr(ld.other, "value", 1) != 0):
        return False
    if any(isinstance(it, ir.ValueIndex) and isinstance(it.value, ir.Var) and it.value.name in bufs for it in ld.index):
        return False
    uses_loop_tile = any(isinstance(it, ir.TileIndex) and it.tile == loop.tiles[0].name for it in ld.index)
    return uses_loop_tile and writers.get(s.out) == 1 and s.out not in readers_outside


def pipeline_async(mk: M.MemKernel, stages: int) -> M.MemKernel:
    if stages < 2:
        return mk
    bufs = {b.name: b for b in mk.buffers}
    writers: dict[str, int] = {}
    for s in M.walk(mk.body):
        if isinstance(s, M.Compute):
            writers[s.out] = writers.get(s.out, 0) + 1
    rings: dict[str, tuple[str, int]] = {}

    def reads(stmts) -> set:
        out = set()
        for s in M.walk(stmts):
            if isinstance(s, M.Compute):
                out |= set(M.operand_names(s.value))
            elif isinstance(s, M.Put):
                out |= set(M.put_operand_names(s.store))
        return out

    def rewrite(stmts, outside: tuple):
        out = []
        for i, s in enumerate(stmts):
            if not isinstance(s, ir.TileLoop):
                out.append(s)
                continue
            siblings = outside + tuple(stmts[:i]) + tuple(stmts[i + 1:])
            body = tuple(rewrite(s.body, siblings))
            if not s.parallel and len(s.tiles) == 1 and not s.tiles[0].is_runtime:
                outside_reads = reads(siblings)
                loads = [x for x in body if _eligible(x, bufs, s, writers, outside_reads)]
                if loads:
                    body = _pipelined(s, body, loads, stages, bufs)
                    for x in loads:
                        rings[x.out] = (s.tiles[0].name, stages)
            out.append(ir.TileLoop(s.tiles, body, s.parallel, s.loc))
        return out

    body = tuple(rewrite(mk.body, ()))
    buffers = tuple(dataclasses.replace(b, ring=rings[b.name]) if b.name in rings else b for b in mk.buffers)
    return dataclasses.replace(mk, buffers=buffers, body=body)


def _pipelined(loop: ir.TileLoop, body, loads, stages: int, bufs):
    loc = loads[0].loc
    vecs = {x.out: _vec(bufs[x.out], x.value) for x in loads}
    new: list = []
    for a in range(stages - 1):
        new += [M.AsyncCopy(x.out, x.value, a, True, x.loc, vecs[x.out]) for x in loads] + [M.Commit(loc)]
    new += [M.Wait(stages - 2, loc), M.Barrier(loc)]
    new += [M.AsyncCopy(x.out, x.value, stages - 1, False, x.loc, vecs[x.out]) for x in loads] + [M.Commit(loc)]
    rest = [x for x in body if not any(x is y for y in loads)]
    # Barriers before the first remaining statement only ordered it after the previous iteration
    # (or after the loads, which are gone): the barrier above already does that. Later ones stay.
    while rest and isinstance(rest[0], M.Barrier):
        rest.pop(0)
    for x in rest:
        if isinstance(x, M.Barrier) and isinstance(new[-1], M.Barrier):
            continue
        new.append(x)
    return tuple(new)
