"""The tile IR: small immutable nodes, every statement with a source location.

A kernel is a list of statements over named, mutable variables (`Assign` may assign a name again,
which is how loop-carried values such as a GEMM accumulator are written). Operands are always
`Var` or `Const`, so every intermediate value has a name and a type in the text form.

Tile loops: the outermost `TileLoop` is `parallel` and forms the launch grid; nested ones run in
sequence. A `TileVar` `m` over extent `M` with block `BLOCK_M` stands for the index range
`[m*BLOCK_M, min((m+1)*BLOCK_M, M))`; indexing a tensor with it loads or stores a tile of
`BLOCK_M` elements along that dimension, of which the ones past the tensor's edge are not real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

import sympy

from ..errors import Loc
from .types import TensorType, ValueType


# ---- operands -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Const:
    value: Any  # int, float or bool
    dtype: str

    def __post_init__(self):
        # Every NaN constant is the one object math.nan, so two NaN constants compare equal (dataclass
        # equality compares value tuples, where an object equals itself) and parse(print(k)) == k.
        if isinstance(self.value, float) and self.value != self.value:
            object.__setattr__(self, "value", math.nan)


Value = Union[Var, Const]


# ---- indexing ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TileIndex:
    """Index a dimension with a tile variable's range."""

    tile: str


@dataclass(frozen=True, slots=True)
class ValueIndex:
    """Index a dimension with an int value: a scalar drops the dimension; a tile gathers, putting its
    own axes in the dimension's place (so a 2-D index on a 1-D tensor is a pointwise gather)."""

    value: Value


IndexItem = Union[TileIndex, ValueIndex]


# ---- expressions --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Op:
    """An operation from the op registry (tilelang.ir.ops) applied to operands."""

    name: str
    args: tuple[Value, ...] = ()
    attrs: tuple[tuple[str, Any], ...] = ()

    def attr(self, key: str, default: Any = None) -> Any:
        for k, v in self.attrs:
            if k == key:
                return v
        return default


@dataclass(frozen=True, slots=True)
class Load:
    """Load a tile (or scalar) from a tensor parameter.

    `other` fills the positions past the tensor's edge (0 when None); `mask` is an optional user
    mask (bool tile) that also selects `other`. `bounds` is filled by the masking pass: per index
    item, whether the generated code must check it against the tensor's size (None before it).
    """

    tensor: str
    index: tuple[IndexItem, ...]
    other: Value | None = None
    mask: Value | None = None
    bounds: tuple[bool, ...] | None = None


Expr = Union[Op, Load]


# ---- statements ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    type: ValueType
    value: Expr
    loc: Loc = field(compare=False)


@dataclass(frozen=True, slots=True)
class Store:
    tensor: str
    index: tuple[IndexItem, ...]
    value: Value
    mask: Value | None = None
    bounds: tuple[bool, ...] | None = None
    loc: Loc = field(default=None, compare=False)
    # None: a plain store. "add" | "max" | "min": an atomic read-modify-write of each element with
    # `value` (several programs may target the same element; the soundness checker allows that).
    atomic: str | None = None


ATOMIC_KINDS = ("add", "max", "min")
# Element types atomic stores support on every backend (native atomic RMW widths on CPUs and GPUs;
# f16/bf16/8-bit atomics would need 16/8-bit compare-and-swap loops that some targets lack).
ATOMIC_DTYPES = ("i32", "i64", "u32", "u64", "f32", "f64")


@dataclass(frozen=True, slots=True)
class TileVar:
    """A tile loop variable. With `lo`/`hi` (i32 scalar operands; then `extent` is None) it is a
    runtime-bounded tile: tile i covers `max(lo, 0) + i*block + arange(block)` for i in
    range(ceil((hi - max(lo, 0)) / block)) (no tiles when hi <= lo), and positions at or past `hi`
    are not real, like positions past a tensor's edge: loads yield the fill value, stores skip them.
    """

    name: str
    extent: sympy.Expr | None
    block: sympy.Expr
    lo: Value | None = None
    hi: Value | None = None

    @property
    def is_runtime(self) -> bool:
        return self.hi is not None

    @property
    def whole(self) -> bool:
        """One tile spanning the whole extent (`x[m, :]`, `tl.tile(D, block=D)`): block == extent."""
        return self.block == self.extent

    @property
    def count(self) -> sympy.Expr:
        """Number of tiles: ceil(extent / block) (static tiles only)."""
        if self.is_runtime:
            raise ValueError(f"tile `{self.name}` has runtime bounds; its tile count is not a size")
        return sympy.ceiling(self.extent / self.block)


PROGRAM_ORDERS = ("row", "grouped")


@dataclass(frozen=True, slots=True)
class TileLoop:
    tiles: tuple[TileVar, ...]
    body: tuple["Stmt", ...]
    parallel: bool
    loc: Loc = field(compare=False)
    # How the launch index maps to the grid loop's tiles (parallel loops only; see
    # tilelang/ir/program_order.py): "row" (row-major, the last tile fastest) or "grouped" (GROUP_M
    # rows of the first tile per group, so programs that run together share operand tiles in L2).
    # `group` is GROUP_M; 0 until the program_order pass binds it.
    order: str = "row"
    group: int = 0


@dataclass(frozen=True, slots=True)
class If:
    """Run `then` when the bool scalar `cond` is true, else `orelse`. Names assigned in both branches
    (with one type) are defined after it; names assigned in only one branch are local to it."""

    cond: Value
    then: tuple["Stmt", ...]
    orelse: tuple["Stmt", ...]
    loc: Loc = field(compare=False)


Stmt = Union[Assign, Store, TileLoop, If]


# ---- kernel -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: TensorType | ValueType  # ValueType params are scalars
    loc: Loc = field(compare=False)

    @property
    def is_tensor(self) -> bool:
        return isinstance(self.type, TensorType)


@dataclass(frozen=True, slots=True)
class Assumption:
    """A fact about a size symbol that passes may use: `kind` is 'eq' (== value) or 'div' (% value == 0)."""

    symbol: str
    kind: str
    value: int


@dataclass(frozen=True, slots=True)
class Kernel:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    assumptions: tuple[Assumption, ...] = ()
    # Tile sizes bound by the tiling pass, recorded for manifests and printing.
    config: tuple[tuple[str, int], ...] = ()
    loc: Loc = field(default=None, compare=False)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def grid_loop(self) -> TileLoop:
        return next(s for s in self.body if isinstance(s, TileLoop) and s.parallel)


def walk(stmts) -> "iter[Stmt]":
    """Every statement, depth-first, loops before their bodies."""
    for s in stmts:
        yield s
        if isinstance(s, TileLoop):
            yield from walk(s.body)
        elif isinstance(s, If):
            yield from walk(s.then)
            yield from walk(s.orelse)


def walk_guarded(stmts, guards: tuple = ()) -> "iter[tuple[Stmt, tuple[Value, ...]]]":
    """Like `walk`, with each statement's guards: the `If` conditions and runtime loop bounds
    (`lo`, `hi`) that decide whether it runs (its control dependences), outermost first."""
    for s in stmts:
        yield s, guards
        if isinstance(s, TileLoop):
            inner = guards + tuple(v for t in s.tiles if t.is_runtime for v in (t.lo, t.hi))
            yield from walk_guarded(s.body, inner)
        elif isinstance(s, If):
            yield from walk_guarded(s.then, guards + (s.cond,))
            yield from walk_guarded(s.orelse, guards + (s.cond,))


def map_body(stmts, fn):
    """Rebuild a statement tree with `fn(stmt) -> stmt` applied bottom-up (loops rebuilt first)."""
    out = []
    for s in stmts:
        if isinstance(s, TileLoop):
            s = TileLoop(s.tiles, tuple(map_body(s.body, fn)), s.parallel, s.loc, s.order, s.group)
        elif isinstance(s, If):
            s = If(s.cond, tuple(map_body(s.then, fn)), tuple(map_body(s.orelse, fn)), s.loc)
        out.append(fn(s))
    return tuple(out)


def block_symbols(kernel: Kernel) -> list[str]:
    """Names of the tile-size symbols a kernel still needs bound, in first-use order."""
    names: list[str] = []
    for s in walk(kernel.body):
        if isinstance(s, TileLoop):
            for t in s.tiles:
                if t.whole:  # its block is a tensor size, bound when the kernel is specialized
                    continue
                for fs in sorted(t.block.free_symbols, key=str):
                    if fs.name not in names:
                        names.append(fs.name)
    return names


def whole_dim_symbols(kernel: Kernel) -> list[str]:
    """Size symbols that whole-dimension tiles span: the kernel is compiled for their concrete values."""
    names: list[str] = []
    for s in walk(kernel.body):
        if isinstance(s, TileLoop):
            for t in s.tiles:
                if t.whole and isinstance(t.block, sympy.Symbol) and t.block.name not in names:
                    names.append(t.block.name)
    return names


def size_symbols(kernel: Kernel) -> list[str]:
    """Names of the tensor-dimension symbols, in parameter order."""
    names: list[str] = []
    for p in kernel.params:
        if p.is_tensor:
            for d in p.type.shape:
                for fs in sorted(d.free_symbols, key=str):
                    if fs.name not in names:
                        names.append(fs.name)
    return names
