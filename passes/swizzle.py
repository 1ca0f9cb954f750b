"""Layout swizzling on the explicit-memory level: an XOR-swizzled layout for each 2-D shared buffer
whose access patterns conflict on shared-memory banks, with the proof recorded.

For every statement that writes or reads a shared buffer, the pattern is derived from the
statement itself (tilelang/memir/access.py: which element each output element reads, and the
cyclic thread map: lanes of a warp handle 32 consecutive output elements). Every warp instruction
of every pattern is then enumerated exhaustively (the buffers are small and static) under the
identity layout and under each candidate XOR layout; the candidate with the fewest conflicts wins,
identity on a tie. The chosen layout is proved a bijection exhaustively over the buffer.
`layout_proofs` re-derives the proof for a kernel's chosen layouts (the AOT manifest records it).

Typical wins: a row reduction or a transpose reads a column (lanes walk rows, stride C words,
C % 32 == 0: a 32-way conflict); c ^ (r % 32) spreads those lanes over all banks while keeping the
row-major copies conflict-free.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tilelang.ir import nodes as ir
from tilelang.memir import nodes as M
from tilelang.memir.access import access_shape, read_ids
from tilelang.memir.fragments import issue_order, mma_of
from tilelang.memir.layout import (ELEMENT_BYTES, WARP, LayoutProof, PatternProof, bank_words, conflict_degrees,
                                   ldmatrix_pattern, physical, prove_bijective)


def ldmatrix_operands(mk: M.MemKernel) -> set[str]:
    """Shared 2-byte buffers a tensor-core dot reads with ldmatrix (CUDA's mma.sync operands): their
    layout must keep each 16-byte row chunk whole (a swizzle unit of 8 elements)."""
    bufs = {b.name: b for b in mk.buffers}
    out = set()
    for s in M.walk(mk.body):
        instr = mma_of(s, bufs) if isinstance(s, M.Compute) else None
        if instr is not None and "cuda" in instr.targets:
            out.update(a.name for a in s.value.args if ELEMENT_BYTES.get(bufs[a.name].dtype) == 2)
    return out


def _patterns(mk: M.MemKernel, buf: M.Buffer) -> list[tuple[str, str, np.ndarray]]:
    """(statement text, 'read' | 'write', ids [n_out, k]) for every access of `buf`."""
    shapes = {b.name: b.shape for b in mk.buffers}
    bufs = {b.name: b for b in mk.buffers}
    out = []

    def visit(stmts, blocks):
        for s in stmts:
            if isinstance(s, ir.If):
                visit(s.then, blocks)
                visit(s.orelse, blocks)
            elif isinstance(s, ir.TileLoop):
                visit(s.body, dict(blocks, **{t.name: int(t.block) for t in s.tiles}))
            elif isinstance(s, M.Compute):
                value = s.value
                out_shape = shapes[s.out]
                where = f"{s.loc}" if s.loc is not None else s.out
                if mma_of(s, bufs) is not None and buf.name in ldmatrix_operands(mk) and \
                        any(a.name == buf.name for a in value.args):
                    out.append((where, "read", ldmatrix_pattern(buf.shape).reshape(-1, 1)))
                    if s.out == buf.name:
                        out.append((where, "write", np.arange(buf.size)[:, None]))
                    continue
                order = issue_order(s.map, out_shape)
                for name, ids in read_ids(value, out_shape, shapes):
                    if name == buf.name:
                        ids = ids.reshape(-1, ids.shape[-1])
                        out.append((where, "read", ids if order is None else ids[order]))
                if s.out == buf.name:
                    ids = np.arange(buf.size)[:, None]
                    out.append((where, "write", ids if order is None else ids[order]))
            elif isinstance(s, M.AsyncCopy) and s.out == buf.name:
                out.append((f"{s.loc}", "write", _chunk_pattern(buf, s.vec)))
            elif isinstance(s, M.Put):
                shape = access_shape(s.store.index, blocks, lambda v: shapes.get(getattr(v, "name", None), ()))
                order = issue_order(s.map, shape)
                for name, ids in read_ids(s.store, shape, shapes):
                    if name == buf.name:
                        ids = ids.reshape(-1, ids.shape[-1])
                        out.append((f"{s.loc}", "read", ids if order is None else ids[order]))
    visit(mk.body, {})
    return out


def _chunk_pattern(buf: M.Buffer, vec: int) -> np.ndarray:
    """A copy's writes: elements by thread, cyclic (vec = 1), or 16-byte chunks of vec elements
    (row-major, chunk q by thread q), which the hardware serves 8 lanes (128 bytes) per phase:
    each phase is one row of 32 word-leading elements."""
    if vec == 1:
        return np.arange(buf.size)[:, None]
    step = vec // 4  # elements per 4-byte word
    starts = np.arange(0, buf.size, vec)
    pad = (-len(starts)) % 8
    starts = np.concatenate([starts, np.repeat(starts[-1:], pad)])
    ids = starts.reshape(-1, 8, 1) + step * np.arange(4)
    return ids.reshape(-1, 1)


def _unit(mk: M.MemKernel, buf: M.Buffer, ldmatrix: set) -> int:
    """The smallest swizzle unit that keeps the buffer's chunked accesses whole."""
    unit = 8 if buf.name in ldmatrix else 1
    for s in M.walk(mk.body):
        if isinstance(s, M.AsyncCopy) and s.out == buf.name:
            unit = max(unit, s.vec)
    return unit


def _worst(ids: np.ndarray, buf: M.Buffer, swizzle) -> tuple[int, int]:
    """(worst conflict degree, number of warp instructions) of a pattern under a layout."""
    n, k = ids.shape
    pad = (-n) % WARP
    if pad:  # lanes past the end issue nothing: repeat a real lane's address (a broadcast)
        ids = np.concatenate([ids, np.repeat(ids[-1:], pad, axis=0)])
    words = bank_words(physical(buf.shape, swizzle, ids), buf.dtype)  # [n, k]
    groups = words.reshape(-1, WARP, k).transpose(0, 2, 1).reshape(-1, WARP)
    return int(conflict_degrees(groups).max()), groups.shape[0]


def _candidates(shape, unit: int = 1) -> list:
    rows, cols = shape
    if cols < 2 or cols & (cols - 1):
        return [None]
    if unit > 1:  # whole chunks of `unit` elements XOR-ed by the row: 16-byte rows stay contiguous
        chunks = cols // unit
        return [None] + [(q, p, unit) for p in (2, 4, 8) if p <= chunks for q in (1, 2, 4)]
    p = min(cols, 32)
    return [None] + [(q, p) for q in sorted({1, max(1, 32 // cols)})]


def _proof(mk, buf, swizzle) -> LayoutProof:
    pats = []
    for where, kind, ids in _patterns(mk, buf):
        ident, count = _worst(ids, buf, None)
        chosen, _ = _worst(ids, buf, swizzle)
        pats.append(PatternProof(where, kind, count, ident, chosen))
    return LayoutProof(buf.name, buf.shape, swizzle, prove_bijective(buf.shape, swizzle), tuple(pats))


def swizzle_shared(mk: M.MemKernel, ctx=None) -> M.MemKernel:
    """The kernel with an XOR swizzle on each 2-D shared buffer where one lowers bank conflicts."""
    new = []
    chunked = ldmatrix_operands(mk)
    for buf in mk.buffers:
        if buf.space != "shared" or len(buf.shape) != 2:
            new.append(buf)
            continue
        pats = _patterns(mk, buf)
        best, best_score = None, None
        for cand in _candidates(buf.shape, _unit(mk, buf, chunked)):
            if cand is not None and not prove_bijective(buf.shape, cand):
                continue
            worst = [_worst(ids, buf, cand)[0] for _, _, ids in pats]
            score = (max(worst, default=1), sum(worst))
            if best_score is None or score < best_score:
                best, best_score = cand, score
        new.append(dataclasses.replace(buf, swizzle=best))
    return dataclasses.replace(mk, buffers=tuple(new))


def layout_proofs(mk: M.MemKernel) -> list[LayoutProof]:
    """The proof for every 2-D shared buffer's layout: bijective, and the worst bank-conflict degree
    of each access pattern under identity and under the layout, every warp instruction enumerated."""
    return [_proof(mk, b, b.swizzle) for b in mk.buffers if b.space == "shared" and len(b.shape) == 2]
