"""The reference interpreter: executes tile IR with numpy. It defines what every kernel computes.

Semantics, written out here once:
- The grid loop runs every program (in order; kernels must not race). Sequential tile loops run
  their tiles in order. A runtime-bounded tile (`lo`, `hi`) starts at max(lo, 0), runs
  ceil((hi - max(lo, 0)) / block) tiles (none when hi <= lo), and its positions at or past `hi` are
  not real, exactly like positions past a tensor's edge. `If` runs one branch. Races are checked
  as they happen: an element stored (non-atomically) by two programs, or stored by one and read
  by another, raises (the soundness pass proves most kernels race-free before this; this catches
  what it cannot see, e.g. `out[n.id // 2]`).
- An atomic store (`atomic_add` / `atomic_max` / `atomic_min`) combines each element's old value
  with the stored one, once per occurrence of the index (np.add.at semantics), so duplicate indices
  in a tile and several programs hitting one element all count.
- A tile index `m` covers global indices start + arange(block). Positions at or past the tensor's
  size are not real: a load yields the fill value (`other`, default 0) there, a store skips them.
  This check happens on every access, whatever the masking pass decided: the interpreter never
  trusts the passes it is used to check.
- A value index (scalar or gather) must be inside the tensor wherever the user mask allows the
  access; otherwise this interpreter raises (a GPU would read garbage).
- Arithmetic happens in the result dtype of each op (f16 in float16, bf16 rounded to bfloat16 after
  every op); `dot` accumulates in f32; `sum` of f16/bf16 accumulates in f32.

It deliberately shares nothing with the code generators beyond the IR and the op registry's
numpy column.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy

from tilelang.errors import TileLangError
from tilelang.ir import nodes as ir
from tilelang.ir.dtypes import NUMPY_STORAGE, promote
from tilelang.ir.ops import OPS
from tilelang.ir.types import size_subs


def round_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even), kept in float32 storage."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), x, rounded).astype(np.float32)


def as_dtype(x, dtype: str) -> np.ndarray:
    """Convert to the numpy storage of an IR dtype, with C-like float->int truncation."""
    arr = np.asarray(x)
    if dtype == "bool":
        return arr.astype(np.bool_)
    with np.errstate(invalid="ignore", over="ignore"):
        out = arr.astype(NUMPY_STORAGE[dtype])
    return round_bf16(out) if dtype == "bf16" else out


def _position(value: int, dtype: str):
    """A tile position or size as the numpy scalar of its IR dtype (i32, or i64)."""
    return np.int64(value) if dtype == "i64" else np.int32(value)


class ReferenceError_(TileLangError):
    """A kernel did something undefined (an out-of-range value index) while being interpreted."""


class Interpreter:
    def __init__(self, kernel: ir.Kernel, args: dict, sizes: dict[str, int]):
        self.kernel = kernel
        self.args = args  # name -> numpy array (tensors) or Python scalar
        self.sizes = size_subs(sizes)
        self.shapes = {p.name: p.type.shape for p in kernel.params if p.is_tensor}
        self.dtypes = {p.name: p.type.dtype for p in kernel.params}
        self.var_dtypes = dict(self.dtypes)
        self.var_dtypes.update({s.name: s.type.dtype for s in ir.walk(kernel.body) if isinstance(s, ir.Assign)})
        # Race detection, per element of each stored tensor: the program that stored it and the one
        # that read it (-1: none yet, -2: several), filled lazily.
        self.stored = {s.tensor for s in ir.walk(kernel.body) if isinstance(s, ir.Store)}
        self.writer: dict[str, np.ndarray] = {}
        self.reader: dict[str, np.ndarray] = {}
        self.program = 0

    # ---- sizes and tiles -----------------------------------------------------------------------

    def size(self, e) -> int:
        v = sympy.sympify(e).subs(self.sizes)
        if not v.is_Integer:
            raise TileLangError(f"size {e} is not known at run time (unbound symbols {v.free_symbols})")
        return int(v)

    def tile_count(self, t: ir.TileVar, env) -> int:
        if t.is_runtime:
            lo, hi = self.runtime_bounds(t, env)
            return max(0, -(-(hi - lo) // self.size(t.block)))
        return -(-self.size(t.extent) // self.size(t.block))

    def runtime_bounds(self, t: ir.TileVar, env) -> tuple[int, int]:
        return max(int(self.value(t.lo, env)), 0), int(self.value(t.hi, env))

    def place(self, t: ir.TileVar, i: int, env) -> tuple:
        """What an access needs of tile `t` at position i: (t, i, first index, limit or None)."""
        b = self.size(t.block)
        if t.is_runtime:
            lo, hi = self.runtime_bounds(t, env)
            return (t, i, lo + i * b, hi)
        return (t, i, i * b, None)

    # ---- execution --------------------------------------------------------------------------------

    def run(self):
        grid = self.kernel.grid_loop
        base_env = {p.name: as_dtype(self.args[p.name], p.type.dtype)
                    for p in self.kernel.params if not p.is_tensor}
        from tilelang.ir.program_order import tile_ids

        counts = tuple(self.tile_count(t, base_env) for t in grid.tiles)
        total = 1
        for c in counts:
            total *= c
        for pid in range(total):  # in launch order: program `pid` computes the tile the order maps it to
            ids = tile_ids(pid, counts, grid.order, grid.group)
            self.program = pid
            env = dict(base_env)
            tiles = {t.name: self.place(t, i, env) for t, i in zip(grid.tiles, ids)}
            self.block(grid.body, env, tiles)

    def block(self, stmts, env: dict, tiles: dict):
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                # Bounds are read once, when the loop starts (the body may reassign their variables).
                counts = [self.tile_count(t, env) for t in s.tiles]
                places = [[self.place(t, i, env) for i in range(n)] for t, n in zip(s.tiles, counts)]
                for chosen in itertools.product(*places):
                    inner = dict(tiles, **{p[0].name: p for p in chosen})
                    self.block(s.body, env, inner)
            elif isinstance(s, ir.If):
                self.block(s.then if bool(self.value(s.cond, env)) else s.orelse, env, tiles)
            elif isinstance(s, ir.Assign):
                try:
                    env[s.name] = self.assign(s, env, tiles)
                except ReferenceError_:
                    raise
                except (ValueError, IndexError, TypeError, FloatingPointError) as e:
                    raise ReferenceError_(f"the reference interpreter failed on this statement: {e}", s.loc) from None
            elif isinstance(s, ir.Store):
                self.store(s, env, tiles)

    def value(self, v, env):
        if isinstance(v, ir.Const):
            return as_dtype(v.value, v.dtype)
        return env[v.name]

    def assign(self, s: ir.Assign, env, tiles):
        if isinstance(s.value, ir.Load):
            return self.load(s.value, env, tiles, s.loc)
        op = s.value
        attrs = dict(op.attrs)
        args = [self.value(a, env) for a in op.args]
        out_dt = s.type.dtype
        name = op.name
        if name == "full":
            return as_dtype(np.full(tuple(self.size(d) for d in attrs["shape"]), attrs["value"]), out_dt)
        if name == "tile_index":  # positions and sizes: i32, or i64 (passes/widen_positions.py)
            t, _, start, _ = tiles[attrs["tile"]]
            return as_dtype(start + np.arange(self.size(t.block), dtype=np.int64), out_dt)
        if name == "tile_start":
            return _position(tiles[attrs["tile"]][2], out_dt)
        if name == "tile_id":
            return _position(tiles[attrs["tile"]][1], out_dt)
        if name == "arange":
            return np.arange(attrs["start"], attrs["end"], dtype=np.int32)
        if name == "reshape":
            return np.reshape(args[0], tuple(self.size(d) for d in attrs["shape"])).copy()
        if name == "slice":
            return np.take(args[0], np.arange(attrs["start"], attrs["end"]), axis=attrs["axis"])
        if name == "size":
            return _position(self.size(attrs["expr"]), out_dt)
        if name == "cast":
            return as_dtype(args[0], out_dt)
        if name == "expand_dims":
            return np.expand_dims(args[0], attrs["axis"])
        if name == "broadcast_to":
            return np.broadcast_to(args[0], tuple(self.size(d) for d in attrs["shape"])).copy()
        od = OPS[name]
        if od.kind == "binary" or name == "where":
            k = 1 if name == "where" else 0
            args = args[:k] + [as_dtype(a, out_dt) for a in args[k:]]
        elif od.kind == "compare":
            common = promote(*(self.operand_dtype(a) for a in op.args))
            args = [as_dtype(a, common) for a in args]
        elif od.kind == "unary" and name not in ("neg", "not", "abs"):
            args = [as_dtype(a, out_dt) for a in args]
        elif name == "sum":
            args = [as_dtype(args[0], out_dt)]
        if od.kind == "reduce":
            return as_dtype(od.ref(args[0], axis=attrs["axis"]), out_dt)
        if od.kind == "scan":
            with np.errstate(all="ignore"):
                return as_dtype(od.ref(as_dtype(args[0], out_dt), axis=attrs["axis"]), out_dt)
        if od.kind == "sort":
            return as_dtype(od.ref(args[0], **attrs), out_dt)
        with np.errstate(all="ignore"):
            return as_dtype(od.ref(*args), out_dt)

    def operand_dtype(self, v) -> str:
        return v.dtype if isinstance(v, ir.Const) else self.var_dtypes[v.name]

    # ---- memory -------------------------------------------------------------------------------------

    def access(self, tensor, index, mask_v, env, tiles, loc):
        """(index arrays broadcasting to the access's shape, where the access really happens, shape).

        Each index item contributes its own axes, in order: a tile index one axis, a scalar none, an
        index tile as many as it has."""
        raw, limits = [], []
        for it in index:
            if isinstance(it, ir.TileIndex):
                t, _, start, limit = tiles[it.tile]
                raw.append(start + np.arange(self.size(t.block), dtype=np.int64))
                limits.append(limit)
            else:
                raw.append(np.asarray(self.value(it.value, env)).astype(np.int64))
                limits.append(None)
        rank = sum(r.ndim for r in raw)
        placed, axis = [], 0
        for r in raw:
            placed.append(r.reshape((1,) * axis + r.shape + (1,) * (rank - axis - r.ndim)))
            axis += r.ndim
        shape = np.broadcast_shapes(*(p.shape for p in placed)) if placed else ()
        sizes = [self.size(d) for d in self.shapes[tensor]]
        in_range = [(p >= 0) & (p < n) & (True if lim is None else p < lim)
                    for p, n, lim in zip(placed, sizes, limits)]
        user = (np.broadcast_to(np.asarray(self.value(mask_v, env)), shape) if mask_v is not None
                else np.ones(shape, dtype=bool))
        # Tile indices past the edge are simply not accessed; value indices must be in range
        # wherever the access happens (a GPU would read or write garbage there).
        valid = user.copy()
        for dim, (it, ok) in enumerate(zip(index, in_range)):
            if isinstance(it, ir.ValueIndex):
                bad = ~np.broadcast_to(ok, shape) & user
                if bad.any():
                    first = int(np.broadcast_to(placed[dim], shape)[bad][0])
                    raise ReferenceError_(f"index {first} is out of range for dimension {dim} of `{tensor}` "
                                          f"(size {sizes[dim]})", loc)
            valid &= np.broadcast_to(ok, shape)
        clipped = tuple(np.broadcast_to(np.clip(p, 0, max(n - 1, 0)), shape) for p, n in zip(placed, sizes))
        return clipped, valid, shape

    def load(self, ld: ir.Load, env, tiles, loc):
        arr = self.args[ld.tensor]
        idx, ok, shape = self.access(ld.tensor, ld.index, ld.mask, env, tiles, loc)
        data = arr[idx] if arr.size else np.zeros(shape, dtype=arr.dtype)
        if ld.tensor in self.stored:
            self.note_access(ld.tensor, tuple(i[ok] for i in idx), write=False, loc=loc)
        other = self.value(ld.other, env) if ld.other is not None else 0
        return as_dtype(np.where(ok, data, other), self.dtypes[ld.tensor])

    def store(self, s: ir.Store, env, tiles):
        arr = self.args[s.tensor]
        idx, ok, shape = self.access(s.tensor, s.index, s.mask, env, tiles, s.loc)
        value = np.broadcast_to(as_dtype(self.value(s.value, env), self.dtypes[s.tensor]), shape)
        where = tuple(i[ok] for i in idx)
        if s.atomic is None:
            self.note_access(s.tensor, where, write=True, loc=s.loc)
            arr[where] = value[ok]
        else:
            # Unbuffered: an index that occurs several times in the tile is updated once per occurrence.
            ufunc = {"add": np.add, "max": np.maximum, "min": np.minimum}[s.atomic]
            with np.errstate(over="ignore"):
                ufunc.at(arr, where, value[ok])

    def note_access(self, tensor: str, where: tuple, write: bool, loc):
        """Record this program's access to elements `where` of `tensor`; raise on a race."""
        shape = self.args[tensor].shape
        writer = self.writer.setdefault(tensor, np.full(shape, -1, dtype=np.int64))
        reader = self.reader.setdefault(tensor, np.full(shape, -1, dtype=np.int64))
        p = self.program
        w = writer[where]
        clash = (w >= 0) & (w != p)
        if write:
            r = reader[where]
            clash_r = (r != -1) & (r != p)
            if clash_r.any():
                k = int(np.argmax(clash_r))
                other = int(r[k])
                who = f"program {other}" if other >= 0 else "several programs"
                raise ReferenceError_(
                    f"program {p} stores element {tuple(int(i[k]) for i in where)} of `{tensor}`, which {who} "
                    f"read: a read-modify-write race (programs run in any order; use an atomic store)", loc)
        if clash.any():
            k = int(np.argmax(clash))
            raise ReferenceError_(
                f"program {p} {'stores' if write else 'reads'} element {tuple(int(i[k]) for i in where)} of "
                f"`{tensor}`, which program {int(w[k])} stored: the result depends on the order programs run "
                f"in (colliding indices? use an atomic store)", loc)
        if write:
            writer[where] = p
        else:
            r = reader[where]
            reader[where] = np.where((r == -1) | (r == p), p, -2)


def run(kernel: ir.Kernel, args: dict, sizes: dict[str, int]) -> None:
    """Execute `kernel` (tile sizes bound) on numpy arrays in `args`, writing stores into them."""
    Interpreter(kernel, args, sizes).run()
