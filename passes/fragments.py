"""Matrix-core fragments on the explicit-memory level: a `dot` of f16/bf16 tiles whose result is a
register tile moves, with every register buffer elementwise-connected to it (the accumulator, its
initialisation, the cast and the store), to an MFMA fragment thread map (tilelang/memir/fragment.py),
so the HIP renderer can compute it with matrix-core instructions and the accumulator never
leaves the registers.

Only which thread computes which element changes, never a value, and only where that cannot
affect the barriers the lowering placed: every statement moved writes a register buffer (or a
tensor) and reads shared buffers only across threads (the dot's operands, broadcasts), accesses
the barrier analysis already treats as touching other threads' elements. Anything else keeps the
cyclic map and the SIMT dot. The explicit-memory interpreter checks the result like any program:
a register read by a thread that does not own the element is reported.
"""

from __future__ import annotations

import dataclasses

from tilelang.ir import nodes as ir
from tilelang.memir import nodes as M
from tilelang.memir.access import access_shape, natural_reads
from tilelang.memir.fragment import INSTRUCTIONS, fits
from tilelang.memir.verifier import verify_memkernel


def _statements(body, blocks=None):
    """(statement, tile blocks in scope) for every Compute / Put."""
    blocks = blocks or {}
    for s in body:
        if isinstance(s, ir.TileLoop):
            yield from _statements(s.body, dict(blocks, **{t.name: int(t.block) for t in s.tiles}))
        elif isinstance(s, (M.Compute, M.Put)):
            yield s, blocks


def choose_map(mk: M.MemKernel, s: M.Compute) -> str | None:
    """The fragment map of an MFMA-eligible dot: f16 x f16 or bf16 x bf16 into an f32 register tile
    whose sides (and K) the instruction divides; the 32x32 instruction where it fits."""
    if not (isinstance(s.value, ir.Op) and s.value.name == "dot"):
        return None
    bufs = {b.name: b for b in mk.buffers}
    a, b = s.value.args
    if not all(isinstance(x, ir.Var) and x.name in bufs for x in (a, b)):
        return None
    dt = bufs[a.name].dtype
    out = bufs[s.out]
    if dt != bufs[b.name].dtype or dt not in ("f16", "bf16") or out.dtype != "f32" or out.space != "local":
        return None
    K = bufs[a.name].shape[1]
    for map_ in ("mfma32", "mfma16"):
        if fits(map_, out.shape, mk.threads) and K % INSTRUCTIONS[(map_, dt)].k == 0:
            return map_
    return None


def mfma_fragments(mk: M.MemKernel, ctx=None) -> M.MemKernel:
    bufs = {b.name: b for b in mk.buffers}
    shape_of = lambda v: bufs[v.name].shape if v.name in bufs else ()  # noqa: E731
    replicated = {s.out for s, _ in _statements(mk.body) if isinstance(s, M.Compute) and s.map == "uniform"}
    distributed = {n for n, b in bufs.items() if b.space == "local" and b.shape and n not in replicated}

    # Union-find over statements and the distributed register buffers they touch: one group must
    # share one thread map.
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x, y):
        parent[find(x)] = find(y)

    stmts = list(_statements(mk.body))
    for i, (s, blocks) in enumerate(stmts):
        node = ("stmt", i)
        find(node)
        if isinstance(s, M.Compute) and s.map == "uniform":
            continue
        names = M.put_operand_names(s.store) if isinstance(s, M.Put) else M.operand_names(s.value)
        for n in names:
            if n in distributed:
                union(node, ("buf", n))
        if isinstance(s, M.Compute) and s.out in distributed:
            union(node, ("buf", s.out))

    wanted: dict = {}  # group -> map
    for i, (s, _) in enumerate(stmts):
        if isinstance(s, M.Compute):
            m = choose_map(mk, s)
            if m is not None:
                wanted.setdefault(find(("stmt", i)), set()).add(m)
    chosen: dict = {}
    for group, maps in wanted.items():
        members = [(i, s, blocks) for i, (s, blocks) in enumerate(stmts) if find(("stmt", i)) == group]
        for m in sorted(maps, key=lambda m: m != "mfma32"):  # the 32x32 instruction first
            if all(_movable(mk, s, blocks, m, bufs, shape_of) for _, s, blocks in members):
                chosen[group] = m
                break
    if not chosen:
        return mk

    index = {id(s): i for i, (s, _) in enumerate(stmts)}

    def fix(body):
        out = []
        for s in body:
            if isinstance(s, ir.TileLoop):
                out.append(dataclasses.replace(s, body=tuple(fix(s.body))))
            elif isinstance(s, (M.Compute, M.Put)) and id(s) in index:
                m = chosen.get(find(("stmt", index[id(s)])))
                out.append(dataclasses.replace(s, map=m) if m else s)
            else:
                out.append(s)
        return out

    result = dataclasses.replace(mk, body=tuple(fix(mk.body)))
    verify_memkernel(result)
    return result


def _movable(mk, s, blocks, map_, bufs, shape_of) -> bool:
    """Whether statement `s` may take fragment map `map_` without touching the barrier analysis."""
    if isinstance(s, M.Put):
        shape = access_shape(s.store.index, blocks, shape_of)
    else:
        if s.map == "uniform" or bufs[s.out].space != "local":
            return False
        shape = bufs[s.out].shape
    if not fits(map_, shape, mk.threads):
        return False
    for name, natural in natural_reads(s, shape, shape_of).items():
        if name in bufs and bufs[name].space == "shared" and natural:
            return False  # the barriers assumed this thread wrote what it reads here
    return True
