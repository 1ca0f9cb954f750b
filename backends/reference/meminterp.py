"""Interpreter of the explicit-memory level (tilelang/memir): thread-level semantics, in numpy.

Values are computed exactly as the reference interpreter computes them (this class reuses its
value semantics); what it adds is the memory model of a thread block, so that the lowering's
decisions are checked on a machine without a GPU:

- Every buffer starts each program poisoned (NaN / a sentinel); reading an element no thread has
  written is reported.
- `shared` buffers and global tensors carry, per element, the thread that last wrote it and the
  barrier phase it was written in, and the thread(s) that read it in the current phase. A read of
  an element another thread wrote in the same phase (no barrier between), or a write of an element
  another thread wrote or read in the same phase, is a race and is reported (`RaceError`), naming
  the buffer, the element, the two threads and the statement.
- `local` buffers are registers: a distributed one may be touched only by the thread that owns the
  element (e % threads); a uniform one is written by every thread alike.

Executing a statement for all threads at once is faithful to any interleaving of the threads
exactly when none of these reports fires, which is why it is enough to check them.
"""

from __future__ import annotations

import itertools
import numpy as np

from tilelang.errors import TileLangError
from tilelang.ir import nodes as ir
from tilelang.ir.types import ValueType, size_subs
from tilelang.memir import nodes as M
from tilelang.memir.access import read_ids
from tilelang.memir.fragments import FragmentMap, mma_of, operand_readers, run_fragment_dot
from tilelang.memir.layout import physical

from .interp import Interpreter, ReferenceError_

MANY = -2  # several threads (or all of them) read an element
NOBODY = -1


class RaceError(TileLangError):
    """Two threads touch one element with no barrier between them, or a thread reads a register
    (or an element) that it does not own or that nobody wrote."""


def _poison(dtype: str, shape):
    from tilelang.ir.dtypes import NUMPY_STORAGE

    if dtype == "bool":
        return np.ones(shape, dtype=np.bool_)
    if dtype.startswith(("f", "bf")):
        return np.full(shape, np.nan, dtype=NUMPY_STORAGE[dtype])
    return np.full(shape, -0x5EED, dtype=NUMPY_STORAGE[dtype])


def _stored_shape(b: M.Buffer):
    return ((b.ring[1],) if b.ring else ()) + b.shape


def _slots(b: M.Buffer, ids):
    """Where elements (ids over all ring stages) live: the layout within a stage, then the stage."""
    ids = np.asarray(ids, dtype=np.int64)
    return (ids // b.size) * b.size + physical(b.shape, b.swizzle, ids % b.size)


def _stored_size(b: M.Buffer) -> int:
    return b.size * (b.ring[1] if b.ring else 1)


class _Shadow:
    """Per-element access history of one shared buffer or tensor, for the current program."""

    def __init__(self, size: int):
        self.wthread = np.full(size, NOBODY, dtype=np.int64)
        self.wphase = np.full(size, -1, dtype=np.int64)
        self.rthread = np.full(size, NOBODY, dtype=np.int64)
        self.rphase = np.full(size, -1, dtype=np.int64)


class MemInterpreter(Interpreter):
    def __init__(self, kernel: M.MemKernel, args: dict, sizes: dict[str, int]):
        self.kernel = kernel
        self.args = args
        self.sizes = size_subs(sizes)
        self.shapes = {p.name: p.type.shape for p in kernel.params if p.is_tensor}
        self.dtypes = {p.name: p.type.dtype for p in kernel.params}
        self.var_dtypes = dict(self.dtypes)
        self.var_dtypes.update({b.name: b.dtype for b in kernel.buffers})
        self.bufs = {b.name: b for b in kernel.buffers}
        self.threads = kernel.threads
        # The reference's checks between programs (one program stores what another reads or stores).
        self.stored = {s.store.tensor for s in M.walk(kernel.body) if isinstance(s, M.Put)}
        self.writer, self.reader = {}, {}
        self.program = 0

    # ---- execution ------------------------------------------------------------------------------

    def run(self):
        grid = self.kernel.grid_loop
        scalars = {p.name: self.args[p.name] for p in self.kernel.params if not p.is_tensor}
        from .interp import as_dtype

        for program, ids in enumerate(itertools.product(*(range(self.tile_count(t, scalars)) for t in grid.tiles))):
            self.program = program
            env = {n: as_dtype(v, self.dtypes[n]) for n, v in scalars.items()}
            env.update({b.name: _poison(b.dtype, _stored_shape(b)) for b in self.kernel.buffers})
            self.shadows = {b.name: _Shadow(_stored_size(b)) for b in self.kernel.buffers if b.space == "shared"}
            self.shadows.update({n: _Shadow(self.args[n].size) for n in self.shapes})
            # Which logical element each shared word holds: a layout that maps two elements to one
            # word shows up when the first is read back after the second overwrote it.
            self.holder = {b.name: np.full(_stored_size(b), NOBODY, dtype=np.int64)
                           for b in self.kernel.buffers if b.space == "shared"}
            # Async copies: elements whose copy is in flight, and the committed / open groups.
            self.inflight = {b.name: np.zeros(_stored_size(b), dtype=bool) for b in self.kernel.buffers if b.ring}
            self.groups, self.open_group = [], []
            self.owner = {b.name: np.full(b.size, NOBODY, dtype=np.int64)
                          for b in self.kernel.buffers if b.space == "local"}
            self.phase = 0
            self.env_ring = env
            self.block(grid.body, env, {t.name: self.place(t, i, env) for t, i in zip(grid.tiles, ids)})

    def block(self, stmts, env, tiles):
        for s in stmts:
            if isinstance(s, ir.If):  # a uniform condition: every thread takes the same branch
                self.block(s.then if bool(self.value(s.cond, env)) else s.orelse, env, tiles)
            elif isinstance(s, ir.TileLoop):
                for ids in itertools.product(*(range(self.tile_count(t, env)) for t in s.tiles)):
                    self.block(s.body, env, dict(tiles, **{t.name: self.place(t, i, env) for t, i in zip(s.tiles, ids)}))
            elif isinstance(s, M.Barrier):
                self.phase += 1
            elif isinstance(s, M.Compute):
                try:
                    self.compute(s, env, self.stage_view(env, tiles), tiles)
                except (RaceError, ReferenceError_):
                    raise
                except (ValueError, IndexError, TypeError, FloatingPointError) as e:
                    raise ReferenceError_(f"the memory-level interpreter failed on this statement: {e}",
                                          s.loc) from None
            elif isinstance(s, M.Put):
                self.put(s, self.stage_view(env, tiles), tiles)
            elif isinstance(s, M.AsyncCopy):
                self.async_copy(s, env, tiles)
            elif isinstance(s, M.Commit):
                self.groups.append(self.open_group)
                self.open_group = []
            elif isinstance(s, M.Wait):
                while len(self.groups) > s.pending:
                    for name, ids, threads, data in self.groups.pop(0):
                        self.land(name, ids, threads, data)

    def reader_threads(self, shape, map_):
        from math import prod

        if isinstance(map_, FragmentMap):
            return map_.owners(shape)[0]
        if map_ == "uniform":
            return np.full(shape, MANY, dtype=np.int64)
        return (np.arange(prod(shape), dtype=np.int64) % self.threads).reshape(shape)

    def stage(self, b: M.Buffer, tiles) -> int:
        """The ring stage a statement inside the ring's loop reads: tile id % stages."""
        return tiles[b.ring[0]][1] % b.ring[1] if b.ring[0] in tiles else 0

    def stage_view(self, env, tiles):
        rings = [b for b in self.kernel.buffers if b.ring]
        if not rings:
            return env
        return dict(env, **{b.name: env[b.name][self.stage(b, tiles)] for b in rings})

    def async_copy(self, s: M.AsyncCopy, env, tiles):
        b = self.bufs[s.out]
        tv, i = tiles[b.ring[0]][:2]
        if s.first and i != 0:
            return
        src = i + s.ahead
        if src >= self.tile_count(tv, self.env_ring):
            return
        shifted = dict(tiles, **{b.ring[0]: self.place(tv, src, self.env_ring)})
        data = self.load(s.load, env, shifted, s.loc)
        ids = (src % b.ring[1]) * b.size + np.arange(b.size)
        threads = (np.arange(b.size) // s.vec) % self.threads  # chunks of vec elements, cyclic
        # Issuing counts as the write for ordering against readers of the stage: the copy may land
        # any time until the wait, so no other thread may still be reading the stage.
        self.write_elems(b.name, ids, threads, s)
        self.inflight[b.name][ids] = True
        self.open_group.append((b.name, ids, threads, np.asarray(data).reshape(-1)))

    def land(self, name, ids, threads, data):
        """A retired copy becomes its thread's write, in the current barrier phase."""
        self.env_ring[name].reshape(-1)[ids] = data
        self.inflight[name][ids] = False
        sh = self.shadows[name]
        sh.wthread[ids] = threads
        sh.wphase[ids] = self.phase

    def compute(self, s: M.Compute, env, view, tiles):
        buf = self.bufs[s.out]
        who = self.reader_threads(buf.shape, s.map)
        value = s.value
        if isinstance(value, ir.Load):
            idx, ok, shape = self.access(value.tensor, value.index, value.mask, view, tiles, s.loc)
            self.check_reads(value, buf.shape, who, s, tiles)
            flat = np.ravel_multi_index(idx, self.args[value.tensor].shape) if self.args[value.tensor].size else None
            if flat is not None:
                self.read_elems(value.tensor, flat[ok], np.broadcast_to(who, shape)[ok], s)
            result = self.load(value, view, tiles, s.loc)
        elif (instr := self.tensor_core(s)) is not None:
            a, b = value.args
            a_thr, b_thr = operand_readers(instr, s.map, buf.shape, self.bufs[a.name].shape[1], MANY)
            for operand, thr in ((a, a_thr), (b, b_thr)):
                ids = np.arange(thr.size)
                if self.bufs[operand.name].ring:
                    ids = ids + self.stage(self.bufs[operand.name], tiles) * thr.size
                    if self.inflight[operand.name][ids].any():
                        raise RaceError(f"shared buffer `{operand.name}` is read before its async copy arrived "
                                        "(no wait retired that copy's group)", s.loc)
                self.read_elems(operand.name, ids, thr.reshape(-1), s)
            result = run_fragment_dot(instr, s.map, view[a.name], view[b.name])
        else:
            self.check_reads(value, buf.shape, who, s, tiles)
            result = self.assign(ir.Assign(s.out, ValueType(buf.dtype, buf.shape), value, s.loc), view, tiles)
        self.write_buffer(buf, who, s)
        env[s.out] = np.array(np.broadcast_to(result, buf.shape), dtype=env[s.out].dtype)

    def tensor_core(self, s: M.Compute):
        """The matrix instruction a `dot` under a fragment map runs on (None: a SIMT dot)."""
        return mma_of(s, self.bufs)

    def put(self, s: M.Put, env, tiles):
        st = s.store
        idx, ok, shape = self.access(st.tensor, st.index, st.mask, env, tiles, st.loc)
        who = self.reader_threads(shape, s.map)
        self.check_reads(st, shape, who, s, tiles)
        arr = self.args[st.tensor]
        if arr.size and st.atomic is None:
            flat = np.ravel_multi_index(idx, arr.shape)[ok]
            self.write_elems(st.tensor, flat, who[ok], s, tensor=True)
        self.store(st, env, tiles)

    # ---- access checks ----------------------------------------------------------------------------

    def check_reads(self, value, out_shape, who, s, tiles=None):
        for name, ids in self.read_ids(value, out_shape):
            if name not in self.bufs:
                continue  # a scalar parameter: every thread has it
            b = self.bufs[name]
            if b.ring:
                ids = ids + self.stage(b, tiles or {}) * b.size
                if self.inflight[name][ids.reshape(-1)].any():
                    raise RaceError(f"shared buffer `{name}` is read before its async copy arrived (no wait "
                                    "retired that copy's group)", s.loc)
            threads = np.broadcast_to(who.reshape(who.shape + (1,) * (ids.ndim - who.ndim)), ids.shape)
            self.read_elems(name, ids.reshape(-1), threads.reshape(-1), s)

    def read_ids(self, value, out_shape):
        return read_ids(value, out_shape, {n: b.shape for n, b in self.bufs.items()})

    def read_elems(self, name, ids, threads, s):
        if ids.size == 0:
            return
        if name in self.owner:
            owner = self.owner[name][ids]
            if (owner == NOBODY).any():
                e = int(ids[owner == NOBODY][0])
                raise RaceError(f"register buffer `{name}` element {e} is read before any thread wrote it", s.loc)
            bad = (owner != MANY) & (owner != threads)
            if bad.any():
                i = int(np.argmax(bad))
                raise RaceError(f"thread {self._t(threads[i])} reads element {int(ids[i])} of register buffer "
                                f"`{name}`, which lives in thread {int(owner[i])}", s.loc)
            return
        sh = self.shadows[name]
        is_buffer = name in self.bufs
        if is_buffer:
            b = self.bufs[name]
            words = _slots(b, ids)
            if ((words < 0) | (words >= _stored_size(b))).any():
                raise RaceError(f"the layout of shared buffer `{name}` puts an element outside the buffer", s.loc)
            clobbered = (self.holder[name][words] != ids) & (sh.wthread[ids] != NOBODY)
            if clobbered.any():
                i = int(np.argmax(clobbered))
                raise RaceError(f"shared buffer `{name}`: element {int(ids[i])} was overwritten by element "
                                f"{int(self.holder[name][words][i])}, which its layout puts in the same word", s.loc)
        if is_buffer and (sh.wthread[ids] == NOBODY).any():
            e = int(ids[sh.wthread[ids] == NOBODY][0])
            raise RaceError(f"shared buffer `{name}` element {e} is read before any thread wrote it", s.loc)
        same_phase = sh.wphase[ids] == self.phase
        other = sh.wthread[ids] != threads
        if self.threads > 1:
            bad = same_phase & (other | (threads == MANY))
            if bad.any():
                i = int(np.argmax(bad))
                raise RaceError(f"race on {'shared buffer' if is_buffer else 'tensor'} `{name}` element "
                                f"{int(ids[i])}: written by thread {int(sh.wthread[ids][i])} and read by "
                                f"{self._t(threads[i])} with no barrier between", s.loc)
        # Record the readers of this phase: one thread, or MANY.
        size = sh.rthread.size
        lo = np.full(size, np.iinfo(np.int64).max)
        hi = np.full(size, np.iinfo(np.int64).min)
        np.minimum.at(lo, ids, threads)
        np.maximum.at(hi, ids, threads)
        touched = np.unique(ids)
        new = np.where((lo[touched] == hi[touched]) & (lo[touched] != MANY), lo[touched], MANY)
        prev_same = sh.rphase[touched] == self.phase
        keep = prev_same & (sh.rthread[touched] != new)
        sh.rthread[touched] = np.where(keep, MANY, new)
        sh.rphase[touched] = self.phase

    def write_buffer(self, buf: M.Buffer, who, s):
        ids = np.arange(buf.size)
        threads = who.reshape(-1)
        if buf.space == "local":
            if buf.shape and s.map == "uniform":
                raise RaceError(f"a uniform statement writes the distributed register buffer `{buf.name}`", s.loc)
            self.owner[buf.name][ids] = threads
            return
        self.write_elems(buf.name, ids, threads, s)

    def write_elems(self, name, ids, threads, s, tensor=False):
        if ids.size == 0:
            return
        sh = self.shadows[name]
        if self.threads > 1:
            ww = (sh.wphase[ids] == self.phase) & (sh.wthread[ids] != threads)
            rw = (sh.rphase[ids] == self.phase) & (sh.rthread[ids] != NOBODY) & (sh.rthread[ids] != threads)
            for bad, what in ((ww, "written"), (rw, "read")):
                if bad.any():
                    i = int(np.argmax(bad))
                    prev = sh.wthread[ids][i] if what == "written" else sh.rthread[ids][i]
                    raise RaceError(f"race on {'tensor' if tensor else 'shared buffer'} `{name}` element "
                                    f"{int(ids[i])}: {what} by {self._t(prev)} and then written by thread "
                                    f"{int(threads[i])} with no barrier between", s.loc)
        sh.wthread[ids] = threads
        sh.wphase[ids] = self.phase
        if not tensor:
            b = self.bufs[name]
            words = _slots(b, ids)
            if ((words < 0) | (words >= _stored_size(b))).any():
                raise RaceError(f"the layout of shared buffer `{name}` puts an element outside the buffer", s.loc)
            self.holder[name][words] = ids

    @staticmethod
    def _t(t) -> str:
        return "several threads" if int(t) == MANY else f"thread {int(t)}"


def run_memory(kernel: M.MemKernel, args: dict, sizes: dict[str, int]) -> None:
    """Execute an explicit-memory program on numpy arrays in `args` (stores write into them)."""
    MemInterpreter(kernel, args, sizes).run()
