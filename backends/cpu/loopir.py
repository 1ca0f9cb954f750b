"""The loop level: what a tile kernel becomes before machine code, for targets that manage memory.

Every tile value lives in an explicit local buffer of static shape (the tiling pass made tile sizes
concrete), and every tile op becomes a loop nest over that shape computing one scalar expression
per point. Elementwise chains are fused into one nest (an expression tree) instead of one buffer
per op; reductions, matrix products and tensor accesses are their own statements. Nothing here is
specific to LLVM: a C-family renderer could print the same form as nested `for` loops.

Expressions are evaluated at a point of an iteration space of rank r (loop variables i0..i{r-1}):
`Read(buf, axes)` reads `buf` at index (i[axes[0]], i[axes[1]], ...), where an axis of None reads
index 0 (a size-1 dimension broadcast along the space).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Union

import sympy


@dataclass(frozen=True, slots=True)
class Buf:
    name: str
    dtype: str  # an IR dtype; f16/bf16 values are kept in f32 (already rounded), bool in one byte
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return prod(self.shape)

    @property
    def strides(self) -> tuple[int, ...]:
        out, s = [], 1
        for d in reversed(self.shape):
            out.append(s)
            s *= d
        return tuple(reversed(out))


# ---- expressions -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Read:
    buf: Buf
    axes: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class Lit:
    value: Any
    dtype: str


@dataclass(frozen=True, slots=True)
class ScalarArg:
    """A scalar kernel parameter."""

    name: str
    dtype: str


@dataclass(frozen=True, slots=True)
class SizeVal:
    """A size expression evaluated by the launcher (slot in Program.size_exprs), as i32 (i64 in a
    kernel compiled for sizes of 2**31 or more; same for the three below)."""

    slot: int
    dtype: str = "i32"


@dataclass(frozen=True, slots=True)
class TileStart:
    tile: str
    dtype: str = "i32"


@dataclass(frozen=True, slots=True)
class TileId:
    tile: str
    dtype: str = "i32"


@dataclass(frozen=True, slots=True)
class Iota:
    """Global index along a tile: its start plus the loop variable of `axis` (i32 or i64)."""

    tile: str
    axis: int | None
    dtype: str = "i32"


@dataclass(frozen=True, slots=True)
class Arange:
    """`start` plus the loop variable of `axis` (i32): tl.arange(start, end)."""

    start: int
    axis: int | None


@dataclass(frozen=True, slots=True)
class Affine:
    """buf's element at flat offset `offset + sum(coeff * i[axis])` (buffers are row-major and
    contiguous): reshapes and slices of a buffer, read in place. An axis of None contributes 0."""

    buf: Buf
    offset: int
    terms: tuple[tuple[int | None, int], ...]


@dataclass(frozen=True, slots=True)
class Apply:
    """An elementwise op of the op registry on scalar operands; `dtype` is its result dtype."""

    op: str
    args: tuple["Expr", ...]
    dtype: str
    attrs: tuple = ()

    def attr(self, key, default=None):
        return dict(self.attrs).get(key, default)


Expr = Union[Read, Lit, ScalarArg, SizeVal, TileStart, TileId, Iota, Arange, Affine, Apply]


def dtype_of(e: Expr) -> str:
    if isinstance(e, (Read, Affine)):
        return e.buf.dtype
    if isinstance(e, (Lit, ScalarArg, Apply, SizeVal, TileStart, TileId, Iota)):
        return e.dtype
    return "i32"


def remap(e: Expr, amap: tuple[int | None, ...]) -> Expr:
    """The expression seen from a space where its own axis a is the outer space's axis amap[a]."""
    if isinstance(e, Read):
        return Read(e.buf, tuple(None if a is None else amap[a] for a in e.axes))
    if isinstance(e, Iota):
        return Iota(e.tile, None if e.axis is None else amap[e.axis], e.dtype)
    if isinstance(e, Arange):
        return Arange(e.start, None if e.axis is None else amap[e.axis])
    if isinstance(e, Affine):
        return Affine(e.buf, e.offset, tuple((None if a is None else amap[a], c) for a, c in e.terms))
    if isinstance(e, Apply):
        return Apply(e.op, tuple(remap(a, amap) for a in e.args), e.dtype, e.attrs)
    return e


def reads(e: Expr) -> set[Buf]:
    if isinstance(e, (Read, Affine)):
        return {e.buf}
    if isinstance(e, Apply):
        out = set()
        for a in e.args:
            out |= reads(a)
        return out
    return set()


def size_of(e: Expr) -> int:
    """Number of nodes (a cost estimate)."""
    if isinstance(e, Apply):
        return 1 + sum(size_of(a) for a in e.args)
    return 1


# ---- statements ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Compute:
    """out[i...] = expr, over out's shape."""

    out: Buf
    expr: Expr


@dataclass(frozen=True, slots=True)
class Reduce:
    """out = reduce `op` of `src` (an expression over `shape`) along `axis`."""

    out: Buf
    op: str  # sum | max | min | argmax | argmin
    src: Expr
    shape: tuple[int, ...]
    axis: int


@dataclass(frozen=True, slots=True)
class Scan:
    """out = inclusive scan `op` (cumsum | cumprod | cummax | cummin) of `src` along `axis`."""

    out: Buf
    op: str
    src: Expr
    shape: tuple[int, ...]
    axis: int


@dataclass(frozen=True, slots=True)
class Sort:
    """out = the first `k` elements along `axis` of `src` in the sort order (ops_scan), as values or
    (with `index`) as i32 positions along the axis."""

    out: Buf
    src: Expr
    shape: tuple[int, ...]
    axis: int
    descending: bool
    k: int
    index: bool


@dataclass(frozen=True, slots=True)
class Dot:
    """out (+)= a @ b for 2-D buffers."""

    out: Buf
    a: Buf
    b: Buf
    accumulate: bool


@dataclass(frozen=True, slots=True)
class TileItem:
    """A tensor dimension indexed by a tile's range, along access axis `axis`."""

    tile: str
    axis: int


@dataclass(frozen=True, slots=True)
class ValueItem:
    """A tensor dimension indexed by an int expression over the access space (scalar or gather)."""

    expr: Expr


@dataclass(frozen=True, slots=True)
class LoadT:
    out: Buf
    tensor: str
    items: tuple[TileItem | ValueItem, ...]
    bounds: tuple[bool, ...]
    mask: Expr | None
    other: Expr | None


@dataclass(frozen=True, slots=True)
class StoreT:
    tensor: str
    items: tuple[TileItem | ValueItem, ...]
    bounds: tuple[bool, ...]
    shape: tuple[int, ...]
    value: Expr
    mask: Expr | None
    atomic: str | None = None  # None | add | max | min: an atomic read-modify-write per element


@dataclass(frozen=True, slots=True)
class TileInfo:
    name: str
    block: int
    count_slot: int  # the number of tiles, a launcher-evaluated size slot (-1 for a runtime tile)
    # A runtime-bounded tile: scalar expressions for its element range [lo, hi), read at loop entry.
    lo: Expr | None = None
    hi: Expr | None = None


@dataclass(frozen=True, slots=True)
class SeqLoop:
    tiles: tuple[TileInfo, ...]
    body: tuple["Stmt", ...]


@dataclass(frozen=True, slots=True)
class IfS:
    """Run `then` when the bool scalar expression `cond` holds, else `orelse`."""

    cond: Expr
    then: tuple["Stmt", ...]
    orelse: tuple["Stmt", ...]


Stmt = Union[Compute, Reduce, Scan, Sort, Dot, LoadT, StoreT, SeqLoop, IfS]


@dataclass(frozen=True, slots=True)
class TensorArg:
    name: str
    dtype: str
    rank: int


@dataclass(frozen=True)
class Program:
    name: str
    tensors: tuple[TensorArg, ...]
    scalars: tuple[tuple[str, str], ...]  # (name, dtype) of scalar params
    size_exprs: tuple[sympy.Expr, ...]  # values the launcher computes from the size symbols
    grid: tuple[TileInfo, ...]
    body: tuple[Stmt, ...]
    buffers: tuple[Buf, ...]
    grid_group: int = 0  # 0: row-major program order; G: grouped, G rows per band (ir/program_order.py)

    def arg_layout(self) -> list[tuple[str, str]]:
        """The int64 argument array, slot by slot: (what, of)."""
        out = []
        for t in self.tensors:
            out.append(("data_ptr", t.name))
            out += [("size", f"{t.name}.shape[{d}]") for d in range(t.rank)]
            out += [("stride", f"{t.name}.stride({d})") for d in range(t.rank)]
        for name, dt in self.scalars:
            out.append(("scalar_f64_bits" if dt.startswith(("f", "bf")) else "scalar_i64", name))
        out += [("size_expr", str(e)) for e in self.size_exprs]
        out.append(("status", "0 on entry; the kernel writes 1 when it cannot allocate its tile buffers"))
        return out


def stmt_writes(stmts) -> set[Buf]:
    out = set()
    for s in stmts:
        if isinstance(s, SeqLoop):
            out |= stmt_writes(s.body)
        elif isinstance(s, IfS):
            out |= stmt_writes(s.then) | stmt_writes(s.orelse)
        elif isinstance(s, (Compute, Reduce, Scan, Sort, Dot, LoadT)):
            out.add(s.out)
    return out
