"""Soundness: reject kernels whose programs (the launch grid) would step on each other's results.

Every program of the grid runs the same body on its own tile of each grid axis. Three mistakes make
the answer depend on how programs are scheduled, or make it plainly wrong, with no other symptom:

1. **Partial reduction.** A reduction (`tl.sum/max/min/argmax/argmin`, any op-registry op of kind
   "reduce" or "scan" with an `axis` attr, e.g. a cumulative sum) or the contraction of `@`
   along an axis that comes from a grid tile reduces only that program's tile of the axis. Its
   result is tainted, and so is everything computed from it; a tainted value reaching a plain store
   (as the value, mask or index) is an error, reported at the reduction. Allowed: atomic stores
   (they combine the programs' partial results), and stores of a partial over tile `n` into a slot
   per program, i.e. indexed by a scalar computed from `n.id`/`n.start` while neither the index nor
   the value has an axis from `n` (`partials[m, n.id] = tl.sum(x[m, n], axis=1)`).
2. **Shared store.** A store whose index does not mention some grid tile (directly, or through a
   value computed from that tile's `.index/.start/.id`) is made by every program along that tile,
   to the same elements.
3. **Read-modify-write race.** A load from a tensor that the kernel also stores, at elements that
   another program may store.

A grid tile whose extent is proven (by sympy, under the kernel's `eq`/`div` assumptions and bound
tile sizes) to fit in one tile is exempt from all three: there is only one program along it.

What is proven, exactly (and what is not):
- Axis provenance is tracked through data flow: each axis of each value remembers which tile loops'
  indices it ranges over (through loads, `.index`, broadcasting, `[:, None]`, `.T`, `@`, values
  carried across loop iterations). A reduction along an axis with a multi-tile grid provenance is
  partial. Provenance is not lost through arithmetic; it is not tracked into values whose shape the
  rules do not model (none today), which then claim no provenance.
- A store "mentions" a grid tile when an index item is that tile, or is a value whose computation
  reads that tile's `.index/.start/.id` (also through a load: a gather/scatter by an index tensor),
  or is a runtime-bounded tile `tl.tile(lo, hi)` whose bounds are computed from such values.
  Mentioning is not injectivity: `out[n.id * 0]` mentions `n`. A scatter through data-dependent
  indices (`out[idx[g], d]`) is allowed and is undefined where indices collide (as torch's
  `index_put_` and Triton's stores); write it with an atomic store when they may collide.
- A load is race-free against a store to the same tensor when, for every multi-tile grid tile `t`,
  some dimension is indexed by `t` itself (or by `t.id`/`t.start`) in both: programs that differ
  along `t` then touch disjoint elements. This is a proof. Anything else is rejected, even when
  the elements happen not to overlap.
- Control dependences count as data flow: what is assigned or stored under an `If` condition or
  inside a runtime-bounded loop whose bounds carry a partial reduction is tainted by it.
- Masks are not looked at: a store masked so that only one program writes is still rejected.
- Two different plain stores to one tensor must be proven disjoint across programs the same way
  (a store against itself only needs to mention every grid tile).
- Atomic stores (`Store.atomic`) are exempt from rule 2 but not from rule 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from tilelang.errors import SoundnessError
from tilelang.ir import nodes as ir
from tilelang.ir.ops import OPS
from tilelang.ir.types import format_expr

from .context import PassContext
from .masking import facts, needs_check

Axes = tuple[frozenset, ...]  # per value axis: the names of the tile loops it ranges over

# Names the padding pass gives the values it masks (`7.pad`).
PADDING_SUFFIX = ".pad"
REDUCTIONS = ("sum", "max", "min", "argmax", "argmin")
# Op-registry kinds whose result at one position depends on the whole `axis` attr: reductions,
# scans (cumsum, ...) and sorts (sort, topk, topk_index).
AXIS_KINDS = ("reduce", "scan", "sort")
# Ops whose result axes line up with their operands' axes (numpy broadcasting, right-aligned).
_ELEMENTWISE_MISC = ("where", "cast", "copy", "broadcast_to")


@dataclass(frozen=True)
class Finding:
    """One check on one statement: `ok` or not, and a sentence saying why."""

    check: str  # 'reduction' | 'store' | 'race'
    ok: bool
    message: str
    loc: object


@dataclass(frozen=True)
class GridTile:
    var: ir.TileVar
    single: bool  # proven to have one tile: one program along it
    why: str  # the proof or the reason there is none


def grid_tiles(kernel: ir.Kernel) -> dict[str, GridTile]:
    """Each grid tile and whether sympy proves block >= extent under the kernel's assumptions."""
    subs = facts(kernel)
    out = {}
    for t in kernel.grid_loop.tiles:
        extent, block = (sympy.sympify(x).subs(subs) for x in (t.extent, t.block))
        slack = sympy.simplify(block - extent)
        single = bool(slack.is_nonnegative) or slack == 0
        shown = f"{t.name}: block {format_expr(t.block)}, extent {format_expr(t.extent)}"
        if single:
            why = f"{shown}: one tile (block >= extent{_under(kernel)})"
        else:
            why = f"{shown}: not proven to be one tile"
        out[t.name] = GridTile(t, single, why)
    return out


def _under(kernel: ir.Kernel) -> str:
    if not kernel.assumptions:
        return ""
    shown = ", ".join(f"{a.symbol} == {a.value}" if a.kind == "eq" else f"{a.symbol} % {a.value} == 0"
                      for a in kernel.assumptions)
    return f", given {shown}"


def _line(loc) -> str:
    return str(loc.line) if loc is not None else "?"


def prod_sizes(factors) -> int:
    out = 1
    for n, _ in factors:
        out *= n
    return out


def regroup(factors: list | None, out_shape) -> list | None:
    """The operand's (size, provenance) factors, in order, cut into the result's axis sizes (a factor is
    split where an axis boundary falls inside it and divides it); None where they do not line up."""
    sizes = [sympy.sympify(d) for d in out_shape]
    if factors is None or not all(d.is_Integer for d in sizes):
        return None
    flat = [f for axis in factors for f in axis]
    out, i = [], 0
    for size in (int(d) for d in sizes):
        parts, need = [], size
        while need > 1:
            if i >= len(flat):
                return None
            n, p = flat[i]
            if n <= need and need % n == 0:
                parts.append((n, p))
                need //= n
                i += 1
            elif n % need == 0:
                parts.append((need, p))
                flat[i] = (n // need, p)
                need = 1
            else:
                return None
        out.append(parts or [(1, frozenset())])
    rest = flat[i:]
    if any(n != 1 for n, _ in rest) or not out:
        return None
    if rest:  # size-1 factors past the last boundary still hold their one position: keep their provenance
        out[-1] = out[-1] + rest
    return out


def _bcast(*axes: Axes) -> Axes:
    """Axis provenance of a broadcast result: right-aligned union."""
    rank = max((len(a) for a in axes), default=0)
    out = []
    for i in range(rank):
        acc = frozenset()
        for a in axes:
            j = i - (rank - len(a))
            if j >= 0:
                acc |= a[j]
        out.append(acc)
    return tuple(out)


class _Analysis:
    def __init__(self, kernel: ir.Kernel):
        self.kernel = kernel
        self.grid = grid_tiles(kernel)
        self.multi = {n for n, g in self.grid.items() if not g.single}
        # Tiles that may end past their extent (extent % block not proven 0): a reduction along one
        # sees the padded positions, which hold the load's fill value. Reported, not an error.
        subs = facts(kernel)
        self.padded = {t.name: t for st in ir.walk(kernel.body) if isinstance(st, ir.TileLoop) for t in st.tiles
                       if needs_check(t, t.extent, subs)}
        self.axes: dict[str, Axes] = {}
        self.deps: dict[str, frozenset] = {}  # tiles whose position the value's content depends on
        self.defs: dict[str, list[ir.Assign]] = {}
        # Finer provenance of reshaped values (and of what keeps their axes: casts, copies, `@`):
        # per axis, its (size, provenance) factors. See factors_of.
        self.factors: dict[str, list | None] = {}
        self.findings: dict[tuple, Finding] = {}
        self.stores: list[ir.Store] = []
        # Partial reductions (statement id -> (statement, description, grid tile)); which values carry
        # them (var -> statement ids); and the first plain / atomic store each one reaches.
        self.partial: dict[int, tuple] = {}
        self.taint: dict[str, frozenset] = {}
        self.plain_uses: dict[int, ir.Store] = {}
        self.atomic_uses: dict[int, ir.Store] = {}
        self.slot_uses: dict[int, ir.Store] = {}
        self.loads: list[tuple[ir.Load, object]] = []
        # Control dependences (If conditions, runtime loop bounds): a value computed, or a store made,
        # under a condition that depends on a partial reduction depends on it too.
        self.guards: dict[int, tuple] = {}
        # Runtime-bounded tiles (`tl.tile(lo, hi)`): their positions are computed from lo and hi.
        self.runtime_tiles = {t.name: t for st in ir.walk(kernel.body) if isinstance(st, ir.TileLoop)
                              for t in st.tiles if t.is_runtime}
        for s, guards in ir.walk_guarded(kernel.body):
            self.guards[id(s)] = guards
            if isinstance(s, ir.Assign):
                self.defs.setdefault(s.name, []).append(s)

    # ---- data flow ----------------------------------------------------------------------------

    def value(self, v) -> tuple[Axes, frozenset]:
        if isinstance(v, ir.Var):
            return self.axes.get(v.name, ()), self.deps.get(v.name, frozenset())
        return (), frozenset()

    def tile_deps(self, name: str) -> frozenset:
        """What a tile's positions depend on: the tile itself and, for a runtime-bounded tile, whatever
        its bounds were computed from (rows [lo, hi) loaded from `starts[p.id]` depend on grid tile p)."""
        t = self.runtime_tiles.get(name)
        if t is None:
            return frozenset({name})
        return frozenset({name}).union(self.value(t.lo)[1], self.value(t.hi)[1])

    def index_axes(self, index) -> tuple[Axes, frozenset]:
        axes, deps = [], frozenset()
        for it in index:
            if isinstance(it, ir.TileIndex):
                axes.append(frozenset({it.tile}))
                deps |= self.tile_deps(it.tile)
            else:
                a, d = self.value(it.value)
                axes.extend(a)
                deps |= d.union(*a)
        return tuple(axes), deps

    def assign(self, s: ir.Assign) -> bool:
        """Update the facts for `s`; True when they grew (loop-carried values need a fixpoint)."""
        e = s.value
        operands = [it.value for it in e.index if isinstance(it, ir.ValueIndex)] + [e.other, e.mask] \
            if isinstance(e, ir.Load) else list(e.args)
        operands = operands + list(self.guards.get(id(s), ()))
        old_taint = self.taint.get(s.name, frozenset())
        self.taint[s.name] = old_taint.union(*(self.taint.get(v.name, ()) for v in operands
                                               if isinstance(v, ir.Var)))
        if isinstance(e, ir.Load):
            axes, deps = self.index_axes(e.index)
            for extra in (e.other, e.mask):
                if extra is not None:
                    deps |= self.value(extra)[1]
            self.loads.append((e, s.loc))
        else:
            args = [self.value(a) for a in e.args]
            deps = frozenset().union(*(d for _, d in args)) if args else frozenset()
            axes = self.op_axes(s, e, [a for a, _ in args])
            if e.name in ("tile_index", "tile_start", "tile_id"):
                deps |= self.tile_deps(e.attr("tile"))
        if len(axes) != s.type.rank:  # shapes the rules above do not model: no provenance claimed
            axes = tuple(frozenset() for _ in s.type.shape)
        old_a, old_d = self.axes.get(s.name), self.deps.get(s.name, frozenset())
        if old_a is not None and len(old_a) == len(axes):
            axes = tuple(x | y for x, y in zip(old_a, axes))
        deps |= old_d
        grew = (axes, deps) != (old_a, old_d) or self.taint[s.name] != old_taint
        self.axes[s.name], self.deps[s.name] = axes, deps
        return grew

    def op_axes(self, s: ir.Assign, e: ir.Op, args: list[Axes]) -> Axes:
        name = e.name
        if name == "tile_index":
            return (frozenset({e.attr("tile")}),)
        kind = OPS[name].kind if name in OPS else None
        if (name in REDUCTIONS or kind in AXIS_KINDS) and args and e.attr("axis") is not None:
            a = args[0]
            axis = e.attr("axis") % max(1, len(a))
            self.check_reduction(s, f"`{name}` along axis {axis}", a[axis] if a else frozenset())
            # A reduction drops the axis; a scan or sort along it keeps the shape; top-k's k positions
            # along it are ranks, not the input's tile positions.
            if kind == "reduce" or name in REDUCTIONS:
                return a[:axis] + a[axis + 1:]
            return a[:axis] + (frozenset(),) + a[axis + 1:] if name in ("topk", "topk_index") else a
        if name == "dot":
            a, b = args
            fa, fb = (self.factors_of(v, x, self.shape_of(v)) for v, x in zip(e.args, args))
            if len(a) == 2 and len(b) == 2:
                self.check_reduction(s, "the contraction of `@`", a[1] | b[0])
                if fa and fb:
                    self.note_factors(s, [fa[0], fb[1]])
                return (a[0], b[1])
            if len(a) == 3 and len(b) == 3:  # batched: the leading axis pairs a's with b's
                self.check_reduction(s, "the contraction of `@`", a[2] | b[1])
                if fa and fb:
                    self.note_factors(s, [[(prod_sizes(fa[0]), a[0] | b[0])], fa[1], fb[2]])
                return (a[0] | b[0], a[1], b[2])
            return ()
        if name == "trans":
            return tuple(reversed(args[0]))
        if name == "expand_dims":
            ax = e.attr("axis")
            return args[0][:ax] + (frozenset(),) + args[0][ax:]
        if name == "full":
            return tuple(frozenset() for _ in s.type.shape)
        if name == "reshape":
            return self.reshape_axes(e, args[0], s.type.shape, s)
        if name in ("cast", "copy") and isinstance(e.args[0], ir.Var) and self.factors.get(e.args[0].name):
            self.note_factors(s, self.factors_of(e.args[0], args[0], s.type.shape))
        if name == "slice":  # a sub-range of the same axes
            return args[0]
        return _bcast(*args)

    def shape_of(self, v) -> tuple:
        defs = self.defs.get(v.name, []) if isinstance(v, ir.Var) else []
        return defs[0].type.shape if defs else ()

    def factors_of(self, v, axes: Axes, shape) -> list | None:
        """Per axis of value `v`, its (size, provenance) factors: finer than the axis's provenance when
        the axis was merged by a reshape (e.g. [6, 6*BT*BC] from [6, 6, BT, BC]), so a later reshape
        that splits it again gives each part back its own provenance. None when a size is symbolic."""
        sizes = [sympy.sympify(d) for d in shape]
        if len(sizes) != len(axes) or not all(d.is_Integer for d in sizes):
            return None
        known = self.factors.get(v.name) if isinstance(v, ir.Var) else None
        if known is not None and [prod_sizes(f) for f in known] == [int(d) for d in sizes]:
            # provenance the axis gained elsewhere (a loop-carried union) goes to all of its factors
            return [[(n, p | (a - frozenset().union(*(q for _, q in f)))) for n, p in f] for f, a in zip(known, axes)]
        return [[(int(d), a)] for d, a in zip(sizes, axes)]

    def note_factors(self, s: ir.Assign, factors: list | None):
        old = self.factors.get(s.name)
        if factors is None or (old is not None and [[n for n, _ in f] for f in old] != [[n for n, _ in f] for f in factors]):
            self.factors[s.name] = None  # loop-carried values of two factor structures: per-axis only
            return
        if old is not None:
            factors = [[(n, p | q) for (n, p), (_, q) in zip(f, g)] for f, g in zip(factors, old)]
        self.factors[s.name] = factors

    def reshape_axes(self, e: ir.Op, src: Axes, out_shape, s: ir.Assign | None = None) -> Axes:
        """Split the operand's axes into their factors and regroup them into the result's axes: each
        result axis takes the provenance of the factors it is made of. Where sizes are symbolic or do not
        line up, leading axes a reshape keeps (same sizes) keep their provenance and each later axis
        of the result mixes all later axes of the operand, so it takes all of their provenance."""
        arg = e.args[0]
        defs = self.defs.get(arg.name, []) if isinstance(arg, ir.Var) else []
        in_shape = defs[0].type.shape if defs else ()
        fine = regroup(self.factors_of(arg, src, in_shape), out_shape)
        if s is not None:
            self.note_factors(s, fine)
        if fine is not None:
            return tuple(frozenset().union(*(p for _, p in f)) for f in fine)
        kept = 0
        while kept < min(len(in_shape), len(out_shape), len(src)) and in_shape[kept] == out_shape[kept]:
            kept += 1
        rest = frozenset().union(*src[kept:])
        return tuple(src[:kept]) + (rest,) * (len(out_shape) - kept)

    # ---- the three checks ---------------------------------------------------------------------

    def record(self, key, finding: Finding):
        old = self.findings.get(key)
        if old is None or (old.ok and not finding.ok):
            self.findings[key] = finding

    def check_reduction(self, s: ir.Assign, what: str, origin: frozenset):
        """Note a reduction; one over a multi-program grid tile taints its result (a partial value)."""
        bad = sorted(origin & self.multi)
        if not bad:
            shown = ", ".join(sorted(origin)) or "no tile"
            x = s.value.args[0] if isinstance(s.value, ir.Op) and s.value.args else None
            masked = isinstance(x, ir.Var) and x.name.endswith(PADDING_SUFFIX)
            fate = ("excluded by the padding pass" if masked else
                    "hold the load's fill value (`other`, default 0) unless masked")
            note = "".join(f"; tile `{t.name}` may be partial (block {format_expr(t.block)}, extent "
                           f"{format_expr(t.extent)}): its padded positions {fate}" for n in sorted(origin)
                           if (t := self.padded.get(n)) is not None)
            self.record(("reduction", id(s)), Finding("reduction", True, f"{what} ranges over {shown}: not split "
                                                                         f"across programs{note}", s.loc))
            return
        self.partial[id(s)] = (s, what, self.grid[bad[0]].var)
        self.taint[s.name] = self.taint.get(s.name, frozenset()) | {id(s)}

    def judge_reductions(self):
        """A partial reduction is an error once its value reaches a plain store; an atomic store combines
        the programs' partial results, so it may take them."""
        for rid, (s, what, t) in self.partial.items():
            plain = self.plain_uses.get(rid)
            if plain is None:
                atomic, slot = self.atomic_uses.get(rid), self.slot_uses.get(rid)
                how = (f"combined across programs by the atomic store at line {_line(atomic.loc)}" if atomic
                       else f"stored in a slot per program (indexed by `{t.name}`'s id/start) at line "
                            f"{_line(slot.loc)}" if slot else "its value is never stored")
                self.record(("reduction", id(s)), Finding("reduction", True, (
                    f"{what} is partial over grid tile `{t.name}`: {how}"), s.loc))
                continue
            self.record(("reduction", id(s)), Finding("reduction", False, (
                f"{what} reduces over grid tile `{t.name}` (extent {format_expr(t.extent)}, block "
                f"{format_expr(t.block)}), but each program holds only one tile of it, so the value stored at "
                f"line {_line(plain.loc)} is a partial result per program. Make the whole dimension one tile "
                f"(index it with `:`, e.g. `x[m, :]`, or `tl.tile({format_expr(t.extent)}, "
                f"block={format_expr(t.extent)})`), loop over it sequentially inside the grid loop and "
                f"accumulate, or combine the programs' partial results with an atomic store"), s.loc))

    def check_store(self, s: ir.Store):
        operands = [s.value, s.mask] + [it.value for it in s.index if isinstance(it, ir.ValueIndex)]
        operands += self.guards.get(id(s), ())
        # Tiles whose per-program scalar (`n.id`, `n.start`, ...) indexes this store: a partial result
        # over such a tile lands in a slot of its own per program (`partials[m, n.id] = tl.sum(...)`).
        slots = frozenset().union(*(self.value(it.value)[1] for it in s.index
                                    if isinstance(it, ir.ValueIndex) and not self.value(it.value)[0]))
        slots -= {it.tile for it in s.index if isinstance(it, ir.TileIndex)}
        slots -= frozenset().union(*self.value(s.value)[0])
        for v in operands:
            for rid in self.taint.get(v.name, ()) if isinstance(v, ir.Var) else ():
                tile = self.partial[rid][2].name
                uses = self.atomic_uses if s.atomic else self.slot_uses if tile in slots else self.plain_uses
                uses.setdefault(rid, s)
        axes, deps = self.index_axes(s.index)
        mentioned = deps.union(*axes)
        missing = [t for t in self.grid if t in self.multi and t not in mentioned]
        key = ("store", id(s))
        if s.atomic is not None:
            self.record(key, Finding("store", True, f"atomic_{s.atomic} store to `{s.tensor}`: programs may "
                                                    f"target the same elements", s.loc))
        elif missing:
            t = self.grid[missing[0]].var
            self.record(key, Finding("store", False, (
                f"the store to `{s.tensor}` does not depend on grid tile `{t.name}` (extent "
                f"{format_expr(t.extent)}, block {format_expr(t.block)}), so every program along "
                f"`{t.name}` writes the same elements and the result depends on which runs last. Index "
                f"the store with `{t.name}`, make `{t.name}` one whole tile, or use an atomic store"), s.loc))
        else:
            self.record(key, Finding("store", True, f"the store to `{s.tensor}` depends on every multi-program "
                                                    f"grid tile ({', '.join(sorted(self.multi)) or 'none'})",
                                     s.loc))

    def separates(self, a, b, t: str) -> bool:
        """Whether index items a and b (same dimension) both select grid tile t's own elements."""
        if isinstance(a, ir.TileIndex) and isinstance(b, ir.TileIndex):
            return a.tile == b.tile == t
        ids = [self.tile_position(x) for x in (a, b)]
        return ids[0] is not None and ids[0] == ids[1] and ids[0][1] == t

    def tile_position(self, it):
        """(op, tile) when `it` is a value index defined once as tile_id/tile_start of a tile."""
        if not (isinstance(it, ir.ValueIndex) and isinstance(it.value, ir.Var)):
            return None
        d = self.defs.get(it.value.name, [])
        if len(d) == 1 and isinstance(d[0].value, ir.Op) and d[0].value.name in ("tile_id", "tile_start"):
            return d[0].value.name, d[0].value.attr("tile")
        return None

    def check_races(self):
        stored: dict[str, list[ir.Store]] = {}
        for st in self.stores:
            stored.setdefault(st.tensor, []).append(st)
        for ld, loc in self.loads:
            for st in stored.get(ld.tensor, []):
                bad = [t for t in sorted(self.multi)
                       if not any(self.separates(a, b, t) for a, b in zip(ld.index, st.index))]
                key = ("race", id(ld), id(st))
                if bad:
                    t = self.grid[bad[0]].var
                    self.record(key, Finding("race", False, (
                        f"this loads `{ld.tensor}`, which the store at line {_line(st.loc)} "
                        f"writes, at elements that another program along grid tile `{t.name}` may store: a "
                        f"read-modify-write race (programs run in any order, in parallel). Accumulate across "
                        f"programs with an atomic store (`tl.atomic_add`), or index the load and the store by "
                        f"`{t.name}` in the same dimension"), loc))
                else:
                    self.record(key, Finding("race", True, f"load of `{ld.tensor}` touches only this program's "
                                                           f"elements of it", loc))

    def check_write_pairs(self):
        """Two different plain stores to one tensor: programs that differ along a grid tile must write
        disjoint elements (`out[m, n]` and `out[n, m]` overlap across programs)."""
        plain = [st for st in self.stores if st.atomic is None]
        for i, first in enumerate(plain):
            for second in plain[i + 1:]:
                if second.tensor != first.tensor:
                    continue
                bad = [t for t in sorted(self.multi)
                       if not any(self.separates(a, b, t) for a, b in zip(first.index, second.index))]
                if bad:
                    t = self.grid[bad[0]].var
                    self.record(("store", id(second)), Finding("store", False, (
                        f"this store to `{second.tensor}` and the one at line {_line(first.loc)} may write the "
                        f"same elements from programs that differ along grid tile `{t.name}` (their order is "
                        f"undefined). Index both by `{t.name}` in the same dimension, or store atomically"),
                        second.loc))

    # ---- driver ---------------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        # Loop-carried values can gain provenance on a later iteration: iterate to a fixpoint (the
        # facts only grow and are finite sets of tile names, so this ends).
        for _ in range(len(self.defs) + 2):
            self.loads = []
            grew = False
            for s in ir.walk(self.kernel.body):
                if isinstance(s, ir.Assign):
                    grew |= self.assign(s)
            if not grew:
                break
        self.stores = [s for s in ir.walk(self.kernel.body) if isinstance(s, ir.Store)]
        for s in self.stores:
            self.check_store(s)
        self.judge_reductions()
        self.check_races()
        self.check_write_pairs()
        return list(self.findings.values())


def analyze(kernel: ir.Kernel) -> tuple[dict[str, GridTile], list[Finding]]:
    """The grid tiles (with their one-tile proofs) and every check's finding, in program order."""
    a = _Analysis(kernel)
    findings = a.run()
    findings.sort(key=lambda f: (f.loc.line, f.loc.col) if f.loc else (0, 0))
    return a.grid, findings


# Of several errors on one line, the one whose fix is most specific is reported.
_PRIORITY = {"race": 0, "reduction": 1, "store": 2}


def check_soundness(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    """The pipeline step: the kernel unchanged, or a SoundnessError at the first unsound statement."""
    _, findings = analyze(kernel)
    errors = sorted((f for f in findings if not f.ok),
                    key=lambda f: (f.loc.line if f.loc else 0, _PRIORITY[f.check]))
    if errors:
        raise SoundnessError(errors[0].message, errors[0].loc)
    return kernel
