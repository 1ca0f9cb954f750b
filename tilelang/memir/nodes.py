"""Nodes of the explicit-memory level, in the tile IR's vocabulary where it can be.

A `MemKernel` is one thread block (CTA) program of `threads` threads, run once per point of the
launch grid (the parallel `ir.TileLoop`, as at the tile level). Every tile value of the tile level
is now a named `Buffer` with a static shape in a memory space:

- `shared`: one copy per thread block; threads exchange values through it, ordered by `Barrier`s.
- `local`: per-thread registers. A rank-0 local buffer written by a `uniform` statement holds the
  same value in every thread (each computes it); a local buffer of rank > 0 is distributed: its
  element e lives in thread e % threads and only that thread may read or write it.

Tensors (kernel parameters) are global memory. Statements:

- `Compute(out, value, map)`: `out = value`, where value is a tile-level `ir.Op` (operands name
  buffers, scalar parameters or constants) or an `ir.Load` from a global tensor (a copy
  global -> buffer). `map` says which thread computes which element of `out`:
  `cyclic` (element e, row-major, by thread e % threads) or `uniform` (every thread computes the
  whole, rank-0, value into its own registers).
- `Put(store, map)`: an `ir.Store` of a buffer to a global tensor (a copy buffer -> global), element
  e of the stored shape by thread e % threads.
- `Barrier`: every thread of the block waits for every other; memory written before is visible
  to every thread after (`__syncthreads()` in CUDA, `s_barrier` on AMD, a pipe barrier on Ascend).
- `ir.TileLoop` (sequential) with a body of these statements, exactly as at the tile level.

A third thread map, `fragment NAME [wm, wn]` (a `FragmentMap`, memir/fragments.py), holds a 2-D
register tile as tensor-core fragments: element (i, j) lives in the lane and register the
registered layout NAME says, in one of a wm x wn grid of warps. A `dot` computed under it runs on
the matrix instruction whose accumulator layout that is. Buffer layouts (swizzles) extend
`Buffer`; see docs/cuda.md for what exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Union

from tilelang.errors import Loc
from tilelang.ir import nodes as ir

from .fragments import FragmentMap

# shared / local: GPU thread blocks (docs/cuda.md). ub / l1 / l0a / l0b / l0c: an Ascend AI core's
# Unified Buffer, L1 buffer and the Cube unit's operand and accumulator buffers (docs/ascend.md).
ASCEND_SPACES = ("ub", "l1", "l0a", "l0b", "l0c")
SPACES = ("shared", "local") + ASCEND_SPACES
MAPS = ("cyclic", "uniform")


@dataclass(frozen=True, slots=True)
class Buffer:
    name: str
    space: str
    dtype: str
    shape: tuple[int, ...]
    # Shared 2-D buffers only: an XOR swizzle (q, p) chosen by passes/swizzle.py (see layout.py).
    swizzle: tuple[int, ...] | None = None  # (q, p) or (q, p, unit)
    # A ring of `stages` copies filled by AsyncCopy (passes/pipeline.py): (tile, stages). A read
    # inside the tile loop reads the copy of tile id % stages.
    ring: tuple[str, int] | None = None

    @property
    def size(self) -> int:
        return prod(self.shape)

    def per_thread(self, threads: int) -> int:
        """Elements each thread holds of a distributed local buffer (ceil(size / threads))."""
        return -(-self.size // threads)


@dataclass(frozen=True, slots=True)
class Compute:
    out: str
    value: ir.Expr  # ir.Op over buffers / scalars / constants, or ir.Load from a tensor
    map: str | FragmentMap  # one of MAPS, or a fragment map
    loc: Loc = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Put:
    store: ir.Store
    map: str | FragmentMap = "cyclic"

    @property
    def loc(self) -> Loc:
        return self.store.loc


@dataclass(frozen=True, slots=True)
class Barrier:
    loc: Loc = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class AsyncCopy:
    """Start copying tile (id + ahead) of the ring's tile loop, as `load` reads it, into ring buffer
    `out`'s stage (id + ahead) % stages; nothing when that tile is past the end, or when `first`
    and this is not the loop's first iteration. Each thread's copies land (become its writes) at
    the `Wait` that retires their group (cp.async on sm_80).

    The copy's thread map: chunks of `vec` consecutive elements of the last dimension (one 16-byte
    cp.async each where the tensor's strides and alignment allow) go to threads cyclically; chunk
    q (row-major) is thread q % threads's. vec = 1 is the cyclic map of elements."""

    out: str
    load: ir.Load
    ahead: int
    first: bool = False
    loc: Loc = field(default=None, compare=False)
    vec: int = 1


@dataclass(frozen=True, slots=True)
class Commit:
    """Close this thread's current group of async copies."""

    loc: Loc = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait until at most `pending` of this thread's committed groups are still in flight."""

    pending: int
    loc: Loc = field(default=None, compare=False)


MemStmt = Union[Compute, Put, Barrier, AsyncCopy, Commit, Wait, ir.TileLoop, ir.If]
# (`ir.If` with a condition every thread computes alike: a scalar parameter or uniform register.)


@dataclass(frozen=True, slots=True)
class MemKernel:
    name: str
    params: tuple[ir.Param, ...]
    threads: int
    buffers: tuple[Buffer, ...]
    body: tuple[MemStmt, ...]
    assumptions: tuple[ir.Assumption, ...] = ()
    config: tuple[tuple[str, int], ...] = ()
    loc: Loc = field(default=None, compare=False)

    def buffer(self, name: str) -> Buffer:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)

    def param(self, name: str) -> ir.Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def grid_loop(self) -> ir.TileLoop:
        return next(s for s in self.body if isinstance(s, ir.TileLoop) and s.parallel)


def is_map(m) -> bool:
    return m in MAPS if isinstance(m, str) else isinstance(m, FragmentMap)


MIXED = "mixed"  # buffer_maps: written under two different maps


def buffer_maps(body) -> dict:
    """The thread map every (non-uniform) statement writing a buffer uses, or MIXED."""
    out: dict = {}
    for s in walk(body):
        if isinstance(s, Compute) and s.map != "uniform":
            out[s.out] = s.map if out.get(s.out, s.map) == s.map else MIXED
    return out


def walk(stmts):
    """Every statement, depth-first, loops and ifs before their bodies."""
    for s in stmts:
        yield s
        if isinstance(s, ir.TileLoop):
            yield from walk(s.body)
        elif isinstance(s, ir.If):
            yield from walk(s.then)
            yield from walk(s.orelse)


def operand_names(value) -> list[str]:
    """Variables an expression reads (buffers or scalar parameters), in order."""
    out = []
    if isinstance(value, ir.Op):
        vals = list(value.args)
    else:
        vals = [it.value for it in value.index if isinstance(it, ir.ValueIndex)] + [value.other, value.mask]
    for v in vals:
        if isinstance(v, ir.Var):
            out.append(v.name)
    return out


def put_operand_names(store: ir.Store) -> list[str]:
    vals = [store.value, store.mask] + [it.value for it in store.index if isinstance(it, ir.ValueIndex)]
    return [v.name for v in vals if isinstance(v, ir.Var)]
