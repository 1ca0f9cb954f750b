"""Tile IR (after tiling and masking) -> the loop level (loopir.Program).

Each tile value gets a local buffer, except single-use elementwise temporaries, which stay pending
as expression trees and are fused into the one statement that consumes them (a later elementwise
op, a reduction, a store). A pending expression is computed into its buffer instead whenever
fusing it would be wrong or wasteful: a buffer it reads is about to be written, a loop it is used
in writes such a buffer, it would be recomputed per broadcast element, or it feeds a `dot`.
`acc = acc + a @ b` (any `x + dot` of one shape) becomes an accumulating Dot into acc's buffer.
"""

from __future__ import annotations

import re
from collections import Counter

import sympy

from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.ir.ops import OPS

from . import loopir as L

_ELEMENTWISE_KINDS = ("binary", "compare", "unary", "random")
_REMAPS = ("expand_dims", "broadcast_to", "trans", "copy")


FUSE_LIMIT = 24  # expression nodes fused into one loop body before a value is given a buffer


def _ints(shape, what="tile shape") -> tuple[int, ...]:
    out = []
    for d in shape:
        d = sympy.sympify(d)
        if not d.is_Integer:
            raise BackendError(f"cpu backend: {what} {d} is not a concrete size (did the tiling pass run?)")
        out.append(int(d))
    return tuple(out)


class _Binding:
    __slots__ = ("kind", "buf", "expr", "shape", "dtype", "a", "b", "single")

    def __init__(self, kind, shape, dtype, buf=None, expr=None, a=None, b=None, single=False):
        self.kind, self.shape, self.dtype = kind, shape, dtype
        self.buf, self.expr, self.a, self.b, self.single = buf, expr, a, b, single

    def reads(self) -> set:
        if self.kind == "expr":
            return L.reads(self.expr)
        if self.kind == "dot":
            return {self.a, self.b}
        return set()


def _uses(v) -> list[str]:
    return [v.name] if isinstance(v, ir.Var) else []


def _stmt_uses(s) -> list[str]:
    out = []
    if isinstance(s, ir.Assign):
        e = s.value
        if isinstance(e, ir.Op):
            for a in e.args:
                out += _uses(a)
        else:
            out += _load_uses(e)
    elif isinstance(s, ir.Store):
        out += _uses(s.value) + (_uses(s.mask) if s.mask is not None else [])
        out += [n for it in s.index if isinstance(it, ir.ValueIndex) for n in _uses(it.value)]
    return out


def _load_uses(e: ir.Load) -> list[str]:
    out = [n for it in e.index if isinstance(it, ir.ValueIndex) for n in _uses(it.value)]
    for v in (e.other, e.mask):
        if v is not None:
            out += _uses(v)
    return out


class Lowerer:
    def __init__(self, kernel: ir.Kernel):
        self.kernel = kernel
        self.assigns = Counter(s.name for s in ir.walk(kernel.body) if isinstance(s, ir.Assign))
        self.uses = Counter()
        self.use_block: dict[str, set] = {}
        self._count_uses(kernel.body)
        self.env: dict[str, _Binding] = {}
        self.bufs: dict[tuple, L.Buf] = {}
        self.buf_origin: dict[L.Buf, str] = {}
        self.slots: list[sympy.Expr] = []
        self.scalars = {p.name: p.type.dtype for p in kernel.params if not p.is_tensor}
        self.tensors = {p.name: p for p in kernel.params if p.is_tensor}
        self.out: list = []
        # Loads already done in the current block, by what they read: `x[m] * 1 + x[m] * 2 + ...`
        # loads x[m] once (each load is several loop versions; hundreds of them made LLVM's
        # optimizer take minutes). Dropped for a tensor when it is stored to.
        self.load_cache: dict[tuple, L.Buf] = {}

    def _count_uses(self, stmts):
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                for n in (x for t in s.tiles if t.is_runtime for v in (t.lo, t.hi) for x in _uses(v)):
                    self.uses[n] += 1
                    self.use_block.setdefault(n, set()).add(id(stmts))
                self._count_uses(s.body)
                continue
            if isinstance(s, ir.If):
                for n in _uses(s.cond):
                    self.uses[n] += 1
                    self.use_block.setdefault(n, set()).add(id(stmts))
                self._count_uses(s.then)
                self._count_uses(s.orelse)
                continue
            for n in _stmt_uses(s):
                self.uses[n] += 1
                self.use_block.setdefault(n, set()).add(id(stmts))

    # ---- buffers, slots -------------------------------------------------------------------------

    def buf(self, name: str, dtype: str, shape) -> L.Buf:
        shape = _ints(shape)
        key = (name, dtype, shape)
        b = self.bufs.get(key)
        if b is None:
            clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
            b = L.Buf(f"t_{clean}_{len(self.bufs)}", dtype, shape)
            self.bufs[key] = b
            self.buf_origin[b] = name
        return b

    def slot(self, e) -> int:
        e = sympy.sympify(e)
        for i, s in enumerate(self.slots):
            if s == e:
                return i
        self.slots.append(e)
        return len(self.slots) - 1

    def tile_info(self, t: ir.TileVar) -> L.TileInfo:
        if t.is_runtime:
            return L.TileInfo(t.name, _ints([t.block])[0], -1, self.operand(t.lo, (), 1), self.operand(t.hi, (), 1))
        return L.TileInfo(t.name, _ints([t.block])[0], self.slot(t.count))

    # ---- operands ------------------------------------------------------------------------------

    def shape_of(self, v) -> tuple[int, ...]:
        if isinstance(v, ir.Const) or v.name in self.scalars:
            return ()
        return self.env[v.name].shape

    def dtype_of(self, v) -> str:
        if isinstance(v, ir.Const):
            return v.dtype
        if v.name in self.scalars:
            return self.scalars[v.name]
        return self.env[v.name].dtype

    def operand(self, v, amap: tuple, space_size: int) -> L.Expr:
        """v as an expression in a space where v's axis d is axis amap[d] (None: broadcast)."""
        if isinstance(v, ir.Const):
            return L.Lit(v.value, v.dtype)
        if v.name in self.scalars:
            return L.ScalarArg(v.name, self.scalars[v.name])
        b = self.env.get(v.name)
        if b is None:
            raise BackendError(f"cpu backend: `{v.name}` is used before it is assigned")
        if b.kind == "expr":
            n = L.Buf("", "", b.shape).size
            costly = isinstance(b.expr, L.Apply)
            if costly and n < space_size:  # fusing would recompute it per broadcast element
                self.materialize(v.name)
                b = self.env[v.name]
            else:
                if b.single:
                    del self.env[v.name]  # consumed
                return L.remap(b.expr, amap)
        if b.kind == "dot":
            self.materialize(v.name)
            b = self.env[v.name]
        return L.Read(b.buf, tuple(amap))

    def bcast(self, v, shape) -> L.Expr:
        """v broadcast (numpy-style, right-aligned) into a space of `shape`."""
        vs = self.shape_of(v)
        r = len(shape)
        if len(vs) > r:
            raise BackendError(f"cpu backend: cannot broadcast a rank-{len(vs)} value into {list(shape)}")
        amap = []
        for d, n in enumerate(vs):
            ax = r - len(vs) + d
            amap.append(None if (n == 1 and shape[ax] != 1) else ax)
        return self.operand(v, tuple(amap), L.Buf("", "", shape).size)

    def buffer_of(self, v) -> L.Buf:
        """v materialized in a buffer (for dot operands)."""
        if isinstance(v, ir.Var) and v.name not in self.scalars:
            b = self.env[v.name]
            if b.kind != "buf":
                self.materialize(v.name)
            return self.env[v.name].buf
        raise BackendError("cpu backend: `@` needs tile operands")

    # ---- pending values ---------------------------------------------------------------------------

    def materialize(self, name: str):
        b = self.env[name]
        buf = self.buf(name, b.dtype, b.shape)
        if b.kind == "expr":
            self.emit(L.Compute(buf, b.expr))
        elif b.kind == "dot":
            self.emit(L.Dot(buf, b.a, b.b, False))
        self.env[name] = _Binding("buf", b.shape, b.dtype, buf=buf)

    def before_write(self, bufs: set):
        for name, b in list(self.env.items()):
            if b.kind != "buf" and b.reads() & bufs:
                self.materialize(name)

    def emit(self, stmt):
        if isinstance(stmt, (L.Compute, L.Reduce, L.Scan, L.Sort, L.Dot, L.LoadT)):
            self.before_write({stmt.out})
        self.out.append(stmt)

    def bind(self, s: ir.Assign, expr: L.Expr):
        name, shape, dt = s.name, _ints(s.type.shape), s.type.dtype
        temp = self.assigns[name] == 1
        cheap = not isinstance(expr, L.Apply)
        local = self.use_block.get(name, set()) <= {self._block}
        # A fused tree is re-walked by each consumer (remap, reads, hashing) and becomes one loop body
        # for LLVM: past FUSE_LIMIT nodes it goes to a buffer, so a 1000-term expression compiles in
        # time linear in its length instead of quadratic (or deeper than Python's recursion limit).
        small = cheap or L.size_of(expr) <= FUSE_LIMIT
        if temp and small and (cheap or (self.uses[name] == 1 and local)):
            self.env[name] = _Binding("expr", shape, dt, expr=expr, single=not cheap)
            return
        buf = self.buf(name, dt, shape)
        self.emit(L.Compute(buf, expr))
        self.env[name] = _Binding("buf", shape, dt, buf=buf)

    # ---- statements ------------------------------------------------------------------------------

    def block(self, stmts) -> list:
        saved_out, saved_block, saved_loads = self.out, getattr(self, "_block", None), self.load_cache
        self.out, self._block, self.load_cache = [], id(stmts), {}
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                self.loop(s)
            elif isinstance(s, ir.If):
                self.if_(s)
            elif isinstance(s, ir.Assign):
                self.assign(s)
            else:
                self.store(s)
        out, self.out, self._block, self.load_cache = self.out, saved_out, saved_block, saved_loads
        return out

    def loop(self, s: ir.TileLoop):
        written = {x.name for x in ir.walk(s.body) if isinstance(x, ir.Assign)}
        for name, b in list(self.env.items()):
            if b.kind != "buf" and any(self.buf_origin.get(r) in written for r in b.reads()):
                self.materialize(name)
        tiles = tuple(self.tile_info(t) for t in s.tiles)
        body = self.block(s.body)
        stored = {x.tensor for x in ir.walk(s.body) if isinstance(x, ir.Store)}
        self.load_cache = {k: v for k, v in self.load_cache.items() if k[0] not in stored}
        self.out.append(L.SeqLoop(tiles, tuple(body)))

    def if_(self, s: ir.If):
        # Each branch must see the same bindings: pending values a branch uses, or whose buffers a
        # branch writes, are computed before the `if` (not in one branch only).
        inner = list(ir.walk(s.then)) + list(ir.walk(s.orelse))
        written = {x.name for x in inner if isinstance(x, ir.Assign)}
        used = {n for x in inner for n in _stmt_uses(x)}
        used |= {n for x in inner if isinstance(x, ir.If) for n in _uses(x.cond)}
        used |= {n for x in inner if isinstance(x, ir.TileLoop) for t in x.tiles if t.is_runtime
                 for v in (t.lo, t.hi) for n in _uses(v)}
        for name, b in list(self.env.items()):
            if b.kind != "buf" and (name in used or any(self.buf_origin.get(r) in written for r in b.reads())):
                self.materialize(name)
        cond = self.operand(s.cond, (), 1)
        then = self.block(s.then)
        orelse = self.block(s.orelse)
        self.out.append(L.IfS(cond, tuple(then), tuple(orelse)))

    def assign(self, s: ir.Assign):
        e = s.value
        shape = _ints(s.type.shape)
        if isinstance(e, ir.Load):
            return self.load(s, e, shape)
        name, attrs = e.name, dict(e.attrs)
        od = OPS.get(name)
        if od is None:
            raise BackendError(f"cpu backend: unknown op `{name}`", s.loc)
        n = L.Buf("", "", shape).size
        if od.kind in _ELEMENTWISE_KINDS or name in ("where", "cast", "copy"):
            args = tuple(self.bcast(a, shape) for a in e.args)
            if name == "copy":
                return self.bind(s, args[0])
            return self.bind(s, L.Apply(name, args, s.type.dtype, tuple(sorted(attrs.items()))))
        if name == "full":
            return self.bind(s, L.Lit(attrs["value"], s.type.dtype))
        if name == "expand_dims":
            ax = attrs["axis"]
            rank = len(self.shape_of(e.args[0]))
            return self.bind(s, self.operand(e.args[0], tuple(d if d < ax else d + 1 for d in range(rank)), n))
        if name == "broadcast_to":
            return self.bind(s, self.bcast(e.args[0], shape))
        if name == "trans":
            return self.bind(s, self.operand(e.args[0], (1, 0), n))
        if name == "tile_index":
            return self.bind(s, L.Iota(attrs["tile"], 0, s.type.dtype))
        if name == "tile_start":
            return self.bind(s, L.TileStart(attrs["tile"], s.type.dtype))
        if name == "tile_id":
            return self.bind(s, L.TileId(attrs["tile"], s.type.dtype))
        if name == "arange":
            return self.bind(s, L.Arange(attrs["start"], 0))
        if name in ("reshape", "slice"):
            src = self.buffer_of(e.args[0])
            if name == "reshape":  # flat index = the output position in row-major order
                terms = tuple((d, st) for d, st in enumerate(L.Buf("", "", shape).strides))
                return self.bind(s, L.Affine(src, 0, terms))
            ax = attrs["axis"]
            return self.bind(s, L.Affine(src, attrs["start"] * src.strides[ax], tuple(enumerate(src.strides))))
        if name == "size":
            return self.bind(s, L.SizeVal(self.slot(attrs["expr"]), s.type.dtype))
        if od.kind == "reduce":
            src_shape = self.shape_of(e.args[0])
            src = self.operand(e.args[0], tuple(range(len(src_shape))), L.Buf("", "", src_shape).size)
            buf = self.buf(s.name, s.type.dtype, shape)
            self.emit(L.Reduce(buf, name, src, src_shape, attrs["axis"] % len(src_shape)))
            self.env[s.name] = _Binding("buf", shape, s.type.dtype, buf=buf)
            return
        if od.kind in ("scan", "sort"):
            src_shape = self.shape_of(e.args[0])
            src = self.operand(e.args[0], tuple(range(len(src_shape))), L.Buf("", "", src_shape).size)
            buf = self.buf(s.name, s.type.dtype, shape)
            axis = attrs["axis"] % len(src_shape)
            if od.kind == "scan":
                self.emit(L.Scan(buf, name, src, src_shape, axis))
            else:
                k = attrs.get("k", src_shape[axis])
                if not 1 <= k <= src_shape[axis]:
                    raise BackendError(f"tl.topk: k={k} is larger than the tile ({src_shape[axis]} along axis "
                                       f"{axis})", s.loc)
                self.emit(L.Sort(buf, src, src_shape, axis, bool(attrs.get("descending", False)) or name != "sort",
                                 k, name == "topk_index"))
            self.env[s.name] = _Binding("buf", shape, s.type.dtype, buf=buf)
            return
        if name == "dot":
            a, b = self.buffer_of(e.args[0]), self.buffer_of(e.args[1])
            temp = self.assigns[s.name] == 1 and self.uses[s.name] == 1
            if temp and self.use_block.get(s.name, set()) <= {self._block}:
                self.env[s.name] = _Binding("dot", shape, s.type.dtype, a=a, b=b, single=True)
                return
            buf = self.buf(s.name, s.type.dtype, shape)
            self.emit(L.Dot(buf, a, b, False))
            self.env[s.name] = _Binding("buf", shape, s.type.dtype, buf=buf)
            return
        raise BackendError(f"cpu backend: op `{name}` is not supported", s.loc)

    def accumulate_dot(self, s: ir.Assign) -> bool:
        """`r = x + d` with d a pending dot of r's shape and dtype: r = x, then r += a @ b."""
        e = s.value
        if not (isinstance(e, ir.Op) and e.name == "add"):
            return False
        for i in (0, 1):
            d, x = e.args[i], e.args[1 - i]
            if not isinstance(d, ir.Var) or d.name not in self.env:
                continue
            b = self.env[d.name]
            shape = _ints(s.type.shape)
            if b.kind != "dot" or b.shape != shape or b.dtype != s.type.dtype or self.shape_of(x) != shape \
                    or self.dtype_of(x) != s.type.dtype:
                continue
            out = self.buf(s.name, s.type.dtype, shape)
            if out in (b.a, b.b):
                continue
            del self.env[d.name]
            xe = self.operand(x, tuple(range(len(shape))), L.Buf("", "", shape).size)
            if xe != L.Read(out, tuple(range(len(shape)))):
                self.emit(L.Compute(out, xe))
            self.emit(L.Dot(out, b.a, b.b, True))
            self.env[s.name] = _Binding("buf", shape, s.type.dtype, buf=out)
            return True
        return False

    def access(self, tensor: str, index, shape) -> tuple:
        items, axis = [], 0
        for it in index:
            if isinstance(it, ir.TileIndex):
                items.append(L.TileItem(it.tile, axis))
                axis += 1
            else:
                r = len(self.shape_of(it.value))
                items.append(L.ValueItem(self.operand(it.value, tuple(range(axis, axis + r)),
                                                      L.Buf("", "", shape).size)))
                axis += r
        return tuple(items)

    def load(self, s: ir.Assign, ld: ir.Load, shape):
        # Only loads whose meaning cannot change within the block: tile or constant indices, no mask,
        # a constant fill, into a value assigned once.
        key = None
        if self.assigns[s.name] == 1 and ld.mask is None and not isinstance(ld.other, ir.Var) and \
                all(isinstance(it, ir.TileIndex) or isinstance(it.value, ir.Const) for it in ld.index):
            key = (ld.tensor, ld.index, ld.other, ld.bounds, shape, s.type.dtype)
            hit = self.load_cache.get(key)
            if hit is not None:
                self.env[s.name] = _Binding("buf", shape, s.type.dtype, buf=hit)
                return
        items = self.access(ld.tensor, ld.index, shape)
        mask = self.bcast(ld.mask, shape) if ld.mask is not None else None
        other = self.bcast(ld.other, shape) if ld.other is not None else None
        bounds = ld.bounds if ld.bounds is not None else tuple(isinstance(i, ir.TileIndex) for i in ld.index)
        buf = self.buf(s.name, s.type.dtype, shape)
        self.emit(L.LoadT(buf, ld.tensor, items, tuple(bounds), mask, other))
        self.env[s.name] = _Binding("buf", shape, s.type.dtype, buf=buf)
        if key is not None:
            self.load_cache[key] = buf

    def store(self, s: ir.Store):
        shape = self._access_shape(s)
        items = self.access(s.tensor, s.index, shape)
        value = self.bcast(s.value, shape)
        mask = self.bcast(s.mask, shape) if s.mask is not None else None
        bounds = s.bounds if s.bounds is not None else tuple(isinstance(i, ir.TileIndex) for i in s.index)
        self.load_cache = {k: v for k, v in self.load_cache.items() if k[0] != s.tensor}
        self.out.append(L.StoreT(s.tensor, items, tuple(bounds), shape, value, mask, s.atomic))

    def _access_shape(self, s: ir.Store) -> tuple[int, ...]:
        out = []
        for it in s.index:
            if isinstance(it, ir.TileIndex):
                out.append(self._tiles[it.tile])
            else:
                out += list(self.shape_of(it.value))
        return tuple(out)

    def run(self) -> L.Program:
        self._tiles = {t.name: _ints([t.block])[0] for s in ir.walk(self.kernel.body)
                       if isinstance(s, ir.TileLoop) for t in s.tiles}
        grid = self.kernel.grid_loop
        if any(isinstance(s, ir.TileLoop) and s.parallel and s is not grid for s in ir.walk(self.kernel.body)):
            raise BackendError("cpu backend: only one parallel tile loop (the launch grid) is supported")
        if any(not isinstance(s, ir.TileLoop) for s in self.kernel.body):
            raise BackendError("cpu backend: statements outside the grid loop are not supported")
        gtiles = tuple(self.tile_info(t) for t in grid.tiles)
        body = self.block(grid.body)
        tensors = tuple(L.TensorArg(p.name, p.type.dtype, p.type.rank) for p in self.kernel.params if p.is_tensor)
        scalars = tuple((p.name, p.type.dtype) for p in self.kernel.params if not p.is_tensor)
        from tilelang.ir.program_order import DEFAULT_GROUP

        group = (grid.group or DEFAULT_GROUP) if grid.order == "grouped" and len(gtiles) >= 2 else 0
        return L.Program(self.kernel.name, tensors, scalars, tuple(self.slots), gtiles, tuple(body),
                         tuple(self.bufs.values()), group)


def lower(kernel: ir.Kernel) -> L.Program:
    lw = Lowerer(kernel)
    orig_assign = lw.assign

    def assign(s):
        if not lw.accumulate_dot(s):
            orig_assign(s)

    lw.assign = assign
    return lw.run()
