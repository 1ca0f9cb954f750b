"""Lowering from the tile level (after tiling and masking) to the explicit-memory level.

One pass, in three steps:
1. Buffers: every tile-level variable becomes a buffer of its (now concrete) shape; a variable
   assigned values of two types gets one buffer per type. A statement that would overwrite a buffer
   it reads at other elements (`x = x.T`, `x = sum(x)` ...) writes a temporary that is then copied.
2. Maps and spaces: a rank-0 value computed only from scalars is `uniform` (every thread computes
   it into its own registers); everything else is `cyclic` (element e by thread e % threads),
   except tensor-core tiles: a `dot` whose operands and tile shapes fit a registered matrix
   instruction of the target (memir/fragments.py: mma.sync m16n8k16 for f16/bf16 on cuda) gets
   the instruction's accumulator `fragment` map, and so does every statement that computes or
   stores a tile connected to it elementwise (the accumulator, its update, its cast, its store),
   so those stay in the registers the instruction leaves them in. A
   buffer that every statement reads only at the reading thread's own elements stays in registers
   (`local`); one read across threads (broadcasts, transposes, reductions, `@` operands) is `shared`.
3. Barriers: before a statement that reads a shared buffer (or tensor) element another thread may
   have written since the last barrier, or writes one another thread may still read, a `Barrier`.
   Sequential loops are analysed to a fixed point, so hazards across iterations are covered.

The explicit-memory interpreter (backends/reference/meminterp.py) checks all three on every kernel:
a wrong space or a missing barrier is reported as a race.
"""

from __future__ import annotations

import dataclasses
import re

from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.ir.types import ValueType
from tilelang.memir import nodes as M
from tilelang.memir.fragments import FragmentMap, pick_mma
from tilelang.memir.verifier import verify_memkernel
from tilelang.memir.access import access_shape, concrete, is_elementwise, natural_reads

from tilelang.ir.ops import OPS

from .context import PassContext

# Ops the explicit-memory level and its renderers implement beyond those with a "c" template
# (statements and index arithmetic written by the renderer itself). Anything else is refused with
# a located error rather than mis-lowered: scans, sort/top-k, random numbers and shifts are not
# lowered yet.
LOWERED_OPS = frozenset({"arange", "argmax", "argmin", "broadcast_to", "cast", "dot", "expand_dims", "full", "max",
                         "min", "reshape", "size", "slice", "sum", "tile_id", "tile_index", "tile_start", "trans"})
LOWERED_DTYPES = frozenset({"bool", "i8", "i32", "i64", "f16", "bf16", "f32", "f64"})


def supported_op(name: str) -> bool:
    return name in LOWERED_OPS or "c" in OPS[name].templates


def _renamed(v, env):
    return ir.Var(env(v.name)) if isinstance(v, ir.Var) else v


def _rename_values(value, env):
    """`value` with every Var replaced by the buffer currently holding that variable."""
    def v(x):
        return ir.Var(env(x.name)) if isinstance(x, ir.Var) else x

    def items(index):
        return tuple(ir.ValueIndex(v(it.value)) if isinstance(it, ir.ValueIndex) else it for it in index)

    if isinstance(value, ir.Op):
        return ir.Op(value.name, tuple(v(a) for a in value.args), value.attrs)
    if isinstance(value, ir.Load):
        return ir.Load(value.tensor, items(value.index), v(value.other) if value.other is not None else None,
                       v(value.mask) if value.mask is not None else None, value.bounds)
    if isinstance(value, ir.Store):
        return ir.Store(value.tensor, items(value.index), v(value.value),
                        v(value.mask) if value.mask is not None else None, value.bounds, value.loc, value.atomic)
    raise TypeError(value)


class _Lowering:
    def __init__(self, kernel: ir.Kernel, threads: int, target: str | None = "cuda", control: bool = True):
        self.kernel = kernel
        self.threads = threads
        self.target = target
        self.control = control
        self.bounds: dict[str, object] = {}  # variables bounding runtime tile loops -> the loop's loc
        self.scalars = {p.name: p.type for p in kernel.params if not p.is_tensor}
        self.types: dict[str, ValueType] = {}  # buffer name -> type
        self.by_var: dict[tuple, str] = {}  # (variable, dtype, shape) -> buffer name
        self.cur: dict[str, str] = {}  # variable -> buffer holding its current value

    # ---- step 1: buffers ----------------------------------------------------------------------

    def shape_of(self, v) -> tuple[int, ...]:
        if isinstance(v, ir.Const) or v.name in self.scalars:
            return ()
        return tuple(self.types[v.name].shape)

    def buffer_for(self, name: str, t: ValueType, loc) -> str:
        try:
            shape = concrete(t.shape)
        except ValueError as e:
            raise BackendError(f"explicit-memory lowering: {e} (did the tiling pass run?)", loc) from None
        key = (name, t.dtype, shape)
        if key not in self.by_var:
            clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
            buf = clean
            n = 1
            while buf in self.types:
                buf, n = f"{clean}_{n}", n + 1
            self.by_var[key] = buf
            self.types[buf] = ValueType(t.dtype, shape)
        return self.by_var[key]

    def lookup(self, loc):
        def env(name):
            if name in self.scalars:
                return name
            if name not in self.cur:
                raise BackendError(f"explicit-memory lowering: `{name}` is read before it is assigned", loc)
            return self.cur[name]
        return env

    def stmts(self, body, blocks: dict) -> list:
        out = []
        for s in body:
            if isinstance(s, ir.TileLoop) and any(t.is_runtime for t in s.tiles) and not self.control:
                raise BackendError("the explicit-memory level (cuda and ascend backends) does not lower tile loops with "
                                   "runtime bounds yet", s.loc)
            if isinstance(s, ir.If) and not self.control:
                raise BackendError("the explicit-memory level (cuda and ascend backends) does not lower `if` yet", s.loc)
            if isinstance(s, ir.Store) and s.atomic is not None and not self.control:
                raise BackendError("the explicit-memory level (cuda and ascend backends) does not lower atomic stores yet",
                                   s.loc)
            if isinstance(s, ir.If):
                out.append(self.lower_if(s, blocks))
            elif isinstance(s, ir.TileLoop):
                inner = dict(blocks, **{t.name: int(t.block) for t in s.tiles})
                before = dict(self.cur)
                env = self.lookup(s.loc)
                tiles = tuple(dataclasses.replace(t, lo=_renamed(t.lo, env), hi=_renamed(t.hi, env))
                              if t.is_runtime else t for t in s.tiles)
                self.bounds.update((v.name, s.loc) for t in tiles if t.is_runtime for v in (t.lo, t.hi)
                                   if isinstance(v, ir.Var))
                new_body = self.stmts(s.body, inner)
                for name, buf in before.items():
                    if self.cur.get(name) != buf:
                        raise BackendError(f"explicit-memory lowering: `{name}` changes type inside this loop; "
                                           "give the new value another name", s.loc)
                out.append(ir.TileLoop(tiles, tuple(new_body), s.parallel, s.loc))
            elif isinstance(s, ir.Assign):
                if isinstance(s.value, ir.Op) and not supported_op(s.value.name):
                    raise BackendError(f"the explicit-memory level (cuda and ascend backends) does not lower `{s.value.name}` "
                                       "yet", s.loc)
                if s.type.dtype not in LOWERED_DTYPES:
                    raise BackendError(f"the explicit-memory level (cuda and ascend backends) does not handle {s.type.dtype} "
                                       "values yet", s.loc)
                value = _rename_values(s.value, self.lookup(s.loc))
                buf = self.buffer_for(s.name, s.type, s.loc)
                reads = M.operand_names(value)
                in_place_ok = is_elementwise(value) and all(
                    self.shape_of(ir.Var(r)) == self.types[buf].shape for r in reads if r == buf)
                if buf in reads and not in_place_ok:
                    tmp = self.buffer_for(s.name + "_next", s.type, s.loc)
                    out.append(M.Compute(tmp, value, "cyclic", s.loc))
                    value = ir.Op("copy", (ir.Var(tmp),))
                out.append(M.Compute(buf, value, "cyclic", s.loc))
                self.cur[s.name] = buf
            elif isinstance(s, ir.Store):
                out.append(M.Put(_rename_values(s, self.lookup(s.loc)), "cyclic"))
        return out

    def lower_if(self, s: ir.If, blocks) -> ir.If:
        """Both branches; a name assigned in both (one type, so one buffer) is defined after."""
        cond = _renamed(s.cond, self.lookup(s.loc))
        if isinstance(cond, ir.Var):
            self.bounds[cond.name] = s.loc  # every thread must take the same branch (barriers inside)
        before = dict(self.cur)
        then = self.stmts(s.then, blocks)
        after_then, self.cur = self.cur, dict(before)
        orelse = self.stmts(s.orelse, blocks)
        after_else, merged = self.cur, dict(before)
        for name in set(after_then) & set(after_else):
            if after_then[name] == after_else[name]:
                merged[name] = after_then[name]
            elif name in before:
                raise BackendError(f"explicit-memory lowering: `{name}` changes type in a branch of this `if`; "
                                   "give the new value another name", s.loc)
        self.cur = merged
        return ir.If(cond, tuple(then), tuple(orelse), s.loc)

    # ---- step 2: maps and spaces ---------------------------------------------------------------

    def uniform_buffers(self, body) -> set[str]:
        """Rank-0 buffers whose every assignment reads only scalars, constants and such buffers."""
        computes = [s for s in M.walk(body) if isinstance(s, M.Compute)]
        uniform = {b for b, t in self.types.items() if not t.shape}
        changed = True
        while changed:
            changed = False
            for c in computes:
                if c.out in uniform and any(n not in self.scalars and n not in uniform
                                            for n in M.operand_names(c.value)):
                    uniform.discard(c.out)
                    changed = True
        return uniform

    def with_maps(self, body, uniform):
        def fix(stmts):
            out = []
            for s in stmts:
                if isinstance(s, ir.If):
                    out.append(ir.If(s.cond, tuple(fix(s.then)), tuple(fix(s.orelse)), s.loc))
                elif isinstance(s, ir.TileLoop):
                    out.append(ir.TileLoop(s.tiles, tuple(fix(s.body)), s.parallel, s.loc))
                elif isinstance(s, M.Compute) and s.out in uniform:
                    out.append(M.Compute(s.out, s.value, "uniform", s.loc))
                else:
                    out.append(s)
            return out
        return fix(body)

    def with_fragments(self, body, target: str | None):
        """Fragment maps for tensor-core dots and the tiles connected to them elementwise (a
        component of buffers joined by elementwise statements over tiles of one shape)."""
        if target is None:
            return body
        parent: dict[str, str] = {}

        def find(x):
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        dots = []

        def visit(stmts, blocks):
            for s in stmts:
                if isinstance(s, ir.If):
                    visit(s.then, blocks)
                    visit(s.orelse, blocks)
                elif isinstance(s, ir.TileLoop):
                    visit(s.body, dict(blocks, **{t.name: int(t.block) for t in s.tiles}))
                elif isinstance(s, M.Compute) and s.map != "uniform":
                    if isinstance(s.value, ir.Op) and s.value.name == "dot":
                        dots.append(s)
                    elif is_elementwise(s.value):
                        for n in M.operand_names(s.value):
                            if n in self.types and self.types[n].shape == self.types[s.out].shape:
                                parent[find(n)] = find(s.out)
                elif isinstance(s, M.Put):
                    shape = self.out_shape(s, blocks)
                    names = [n for n in M.put_operand_names(s.store) if n in self.types and self.types[n].shape == shape]
                    for n in names[1:]:
                        parent[find(n)] = find(names[0])
        visit(body, {})
        choice: dict[str, object] = {}
        for d in dots:
            a, b = (self.types[x.name] for x in d.value.args)
            out = self.types[d.out]
            if len(a.shape) != 2 or len(b.shape) != 2:  # batched dots stay SIMT
                choice[find(d.out)] = None
                continue
            picked = pick_mma(a.dtype, b.dtype, out.dtype, a.shape[0], b.shape[1], a.shape[1], self.threads, target)
            fmap = FragmentMap(picked[0].c, picked[1]) if picked else None
            root = find(d.out)
            choice[root] = fmap if choice.get(root, fmap) == fmap else None
        frag = {root: m for root, m in choice.items() if m is not None}
        if not frag:
            return body

        def fix(stmts, blocks):
            out = []
            for s in stmts:
                if isinstance(s, ir.If):
                    out.append(ir.If(s.cond, tuple(fix(s.then, blocks)), tuple(fix(s.orelse, blocks)), s.loc))
                elif isinstance(s, ir.TileLoop):
                    out.append(ir.TileLoop(s.tiles, tuple(fix(s.body, dict(blocks, **{t.name: int(t.block) for t in s.tiles}))),
                                           s.parallel, s.loc))
                elif isinstance(s, M.Compute) and s.map != "uniform" and find(s.out) in frag:
                    out.append(M.Compute(s.out, s.value, frag[find(s.out)], s.loc))
                elif isinstance(s, M.Put):
                    shape = self.out_shape(s, blocks)
                    roots = {find(n) for n in M.put_operand_names(s.store) if n in self.types and self.types[n].shape == shape}
                    hit = [frag[r] for r in roots if r in frag]
                    out.append(M.Put(s.store, hit[0]) if hit else s)
                else:
                    out.append(s)
            return out
        return fix(body, {})

    def spaces(self, body, uniform) -> dict[str, str]:
        shared: set[str] = set()
        map_of = self.map_of(body)

        def visit(stmts, blocks):
            for s in stmts:
                if isinstance(s, ir.If):
                    visit(s.then, blocks)
                    visit(s.orelse, blocks)
                elif isinstance(s, ir.TileLoop):
                    visit(s.body, dict(blocks, **{t.name: int(t.block) for t in s.tiles}))
                elif isinstance(s, (M.Compute, M.Put)):
                    for name, natural in natural_reads(s, self.out_shape(s, blocks), self.shape_of, map_of).items():
                        if not natural and name not in uniform and name not in self.scalars:
                            shared.add(name)
        visit(body, {})
        return {b: "shared" if b in shared else "local" for b in self.types}

    def map_of(self, body):
        maps = M.buffer_maps(body)
        return lambda name: maps.get(name) if name in self.types else None

    def out_shape(self, s, blocks) -> tuple[int, ...]:
        if isinstance(s, M.Put):
            return access_shape(s.store.index, blocks, self.shape_of)
        return tuple(self.types[s.out].shape)

    # ---- step 3: barriers ------------------------------------------------------------------------

    def accesses(self, s, blocks, space, map_of) -> list[tuple[str, str, bool]]:
        """(what, 'r' | 'w', natural) for the shared buffers and tensors a statement touches."""
        out = []
        for name, natural in natural_reads(s, self.out_shape(s, blocks), self.shape_of, map_of).items():
            if space.get(name) == "shared":
                out.append((name, "r", s.map if natural else False))
        if isinstance(s, M.Put):
            out.append(("tensor " + s.store.tensor, "w", False))
        else:
            if isinstance(s.value, ir.Load):
                out.append(("tensor " + s.value.tensor, "r", False))
            if space.get(s.out) == "shared":
                out.append((s.out, "w", s.map))
        return out

    @staticmethod
    def conflicts(acc, pending) -> bool:
        for what, kind, natural in acc:
            for pkind, pnatural in pending.get(what, ()):
                if kind == "r" and pkind == "r":
                    continue
                if what.startswith("tensor "):
                    # Global memory: order reads after writes and writes after reads. Two plain
                    # stores of one element by different threads in one phase are left to the
                    # interpreter's race check.
                    if kind != pkind:
                        return True
                elif not (natural and natural == pnatural):
                    return True
        return False

    def place_barriers(self, stmts, pending, blocks, space, map_of):
        out = []
        for s in stmts:
            if isinstance(s, ir.If):  # either branch may run: what is pending after is the join
                then, p_then = self.place_barriers(s.then, pending, blocks, space, map_of)
                orelse, p_else = self.place_barriers(s.orelse, pending, blocks, space, map_of)
                out.append(ir.If(s.cond, tuple(then), tuple(orelse), s.loc))
                pending = _join(p_then, p_else)
                continue
            if isinstance(s, ir.TileLoop):
                inner = dict(blocks, **{t.name: int(t.block) for t in s.tiles})
                head = {k: set(v) for k, v in pending.items()}
                for _ in range(8):
                    body, exit_ = self.place_barriers(s.body, head, inner, space, map_of)
                    joined = _join(pending, exit_)
                    if joined == head:
                        break
                    head = joined
                out.append(ir.TileLoop(s.tiles, tuple(body), s.parallel, s.loc))
                pending = _join(pending, exit_)
                continue
            acc = self.accesses(s, blocks, space, map_of)
            if self.conflicts(acc, pending):
                out.append(M.Barrier(s.loc))
                pending = {}
            pending = _join(pending, {what: {(kind, natural)} for what, kind, natural in acc})
            out.append(s)
        return out, pending

    # ---- all together ----------------------------------------------------------------------------

    def run(self) -> M.MemKernel:
        k = self.kernel
        body = self.stmts(k.body, {})
        uniform = self.uniform_buffers(body)
        for name, loc in self.bounds.items():
            if name not in uniform and name not in self.scalars:
                raise BackendError(f"explicit-memory lowering: `{name}` (a tile loop's bound or an `if`'s condition) "
                                   "is not the same in every thread; compute it from scalars and scalar loads "
                                   "only", loc)
        body = self.with_maps(body, uniform)
        body = self.with_fragments(body, self.target)
        space = self.spaces(body, uniform)
        body, _ = self.place_barriers(body, {}, {}, space, self.map_of(body))
        buffers = tuple(M.Buffer(b, space[b], t.dtype, tuple(t.shape)) for b, t in self.types.items())
        out = M.MemKernel(k.name, k.params, self.threads, buffers, tuple(body), k.assumptions, k.config, k.loc)
        verify_memkernel(out)
        return out


def _join(a: dict, b: dict) -> dict:
    out = {k: set(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, set()).update(v)
    return out


def lower_to_memory(kernel: ir.Kernel, ctx: PassContext | None = None, threads: int | None = None,
                    target: str | None = "cuda", control: bool | None = None) -> M.MemKernel:
    """The explicit-memory program of a tile kernel whose tiling and masking passes have run.
    `threads` per block defaults to 32 * the Config's num_warps. `target` picks the matrix
    instructions a `dot` may use (memir/fragments.py; None: none, every dot stays SIMT).
    `control`: whether atomic stores (`tl.atomic_add` / `_max` / `_min` on global tensors, the
    C-family renderers' atomicAdd / atomicMax / CAS loops) and tile loops with runtime bounds
    (`tl.tile(lo, hi)`, bounds the same in every thread) are lowered; by default for a GPU target
    (cuda, hip), refused with a located error otherwise (a renderer without them)."""
    if threads is None:
        threads = 32 * (ctx.config.num_warps if ctx is not None else 4)
    if control is None:
        control = target is not None
    return _Lowering(kernel, threads, target, control).run()
