"""The reference interpreter: executes tile IR with numpy. It defines what every kernel computes.

Semantics, written out here once:
- The grid loop runs every program (in order; kernels must not race). Sequential tile loops run
  their tiles in order.
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


class ReferenceError_(TileLangError):
    """A kernel did something undefined (an out-of-range value index) while being interpreted."""


class Interpreter:
    def __init__(self, kernel: ir.Kernel, args: dict, sizes: dict[str, int]):
        self.kernel = kernel
        self.args = args  # name -> numpy array (tensors) or Python scalar
        self.sizes = {sympy.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()}
        self.shapes = {p.name: p.type.shape for p in kernel.params if p.is_tensor}
        self.dtypes = {p.name: p.type.dtype for p in kernel.params}
        self.var_dtypes = dict(self.dtypes)
        self.var_dtypes.update({s.name: s.type.dtype for s in ir.walk(kernel.body) if isinstance(s, ir.Assign)})

    # ---- sizes and tiles -----------------------------------------------------------------------

    def size(self, e) -> int:
        v = sympy.sympify(e).subs(self.sizes)
        if not v.is_Integer:
            raise TileLangError(f"size {e} is not known at run time (unbound symbols {v.free_symbols})")
        return int(v)

    def tile_count(self, t: ir.TileVar) -> int:
        return -(-self.size(t.extent) // self.size(t.block))

    # ---- execution --------------------------------------------------------------------------------

    def run(self):
        grid = self.kernel.grid_loop
        base_env = {p.name: as_dtype(self.args[p.name], p.type.dtype)
                    for p in self.kernel.params if not p.is_tensor}
        for ids in itertools.product(*(range(self.tile_count(t)) for t in grid.tiles)):
            env = dict(base_env)
            tiles = {t.name: (t, i) for t, i in zip(grid.tiles, ids)}
            self.block(grid.body, env, tiles)

    def block(self, stmts, env: dict, tiles: dict):
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                for ids in itertools.product(*(range(self.tile_count(t)) for t in s.tiles)):
                    inner = dict(tiles, **{t.name: (t, i) for t, i in zip(s.tiles, ids)})
                    self.block(s.body, env, inner)
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
        if name == "tile_index":
            t, i = tiles[attrs["tile"]]
            b = self.size(t.block)
            return (i * b + np.arange(b)).astype(np.int32)
        if name == "tile_start":
            t, i = tiles[attrs["tile"]]
            return np.int32(i * self.size(t.block))
        if name == "tile_id":
            return np.int32(tiles[attrs["tile"]][1])
        if name == "size":
            return np.int32(self.size(attrs["expr"]))
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
        with np.errstate(all="ignore"):
            return as_dtype(od.ref(*args), out_dt)

    def operand_dtype(self, v) -> str:
        return v.dtype if isinstance(v, ir.Const) else self.var_dtypes[v.name]

    # ---- memory -------------------------------------------------------------------------------------

    def indices(self, tensor: str, index, env, tiles):
        """Per index item: (global indices as 1-D array, whether it keeps its axis, in-bounds flags)."""
        out = []
        for it, dim in zip(index, self.shapes[tensor]):
            n = self.size(dim)
            if isinstance(it, ir.TileIndex):
                t, i = tiles[it.tile]
                b = self.size(t.block)
                idx = i * b + np.arange(b, dtype=np.int64)
                out.append((idx, True, idx < n, n))
            else:
                v = np.asarray(self.value(it.value, env)).astype(np.int64)
                keep = v.ndim == 1
                idx = v.reshape(-1)
                out.append((idx, keep, (idx >= 0) & (idx < n), n))
        return out

    def access(self, tensor, index, mask_v, env, tiles, loc):
        """Index arrays for np.ix_, the validity mask in the access's shape, the kept axes."""
        parts = self.indices(tensor, index, env, tiles)
        grids = np.ix_(*[p[0] for p in parts])
        valid = np.ones(tuple(len(p[0]) for p in parts), dtype=bool)
        for axis, p in enumerate(parts):
            shape = [1] * len(parts)
            shape[axis] = len(p[0])
            valid = valid & p[2].reshape(shape)
        keep_shape = tuple(len(p[0]) for p in parts if p[1])
        valid = valid.reshape(keep_shape)
        if mask_v is not None:
            user = np.broadcast_to(np.asarray(self.value(mask_v, env)), keep_shape)
        else:
            user = np.ones(keep_shape, dtype=bool)
        # Value indices must be in range wherever the access happens.
        full = tuple(len(p[0]) for p in parts)
        for axis, (idx, keep, ok, n) in enumerate(parts):
            if isinstance(index[axis], ir.ValueIndex) and not ok.all():
                shape = [1] * len(parts)
                shape[axis] = len(idx)
                bad = np.broadcast_to((~ok).reshape(shape), full).reshape(keep_shape) & user
                if bad.any():
                    raise ReferenceError_(f"index {int(idx[~ok][0])} is out of range for dimension {axis} of "
                                          f"`{tensor}` (size {n})", loc)
        clipped = tuple(np.clip(g, 0, max(p[3] - 1, 0)) for g, p in zip(grids, parts))
        return clipped, valid & user, keep_shape

    def load(self, ld: ir.Load, env, tiles, loc):
        arr = self.args[ld.tensor]
        dt = self.dtypes[ld.tensor]
        idx, ok, keep_shape = self.access(ld.tensor, ld.index, ld.mask, env, tiles, loc)
        if arr.size == 0:
            data = np.zeros(keep_shape, dtype=arr.dtype)
        else:
            data = arr[idx].reshape(keep_shape)
        other = self.value(ld.other, env) if ld.other is not None else 0
        return as_dtype(np.where(ok, data, other), dt)

    def store(self, s: ir.Store, env, tiles):
        arr = self.args[s.tensor]
        idx, ok, keep_shape = self.access(s.tensor, s.index, s.mask, env, tiles, s.loc)
        value = np.broadcast_to(as_dtype(self.value(s.value, env), self.dtypes[s.tensor]), keep_shape)
        full_shape = idx[0].shape if len(idx) == 1 else np.broadcast_shapes(*(g.shape for g in idx))
        ok_full = ok.reshape(full_shape)
        value_full = value.reshape(full_shape)
        sel = tuple(np.broadcast_to(g, full_shape)[ok_full] for g in idx)
        arr[sel] = value_full[ok_full]


def run(kernel: ir.Kernel, args: dict, sizes: dict[str, int]) -> None:
    """Execute `kernel` (tile sizes bound) on numpy arrays in `args`, writing stores into them."""
    Interpreter(kernel, args, sizes).run()
