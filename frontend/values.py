"""Compile-time values the frontend juggles while it walks a kernel's AST.

A Python expression inside a kernel evaluates, at compile time, to one of these: an IR value with
its type, a weakly typed Python literal, a size (sympy expression), a tile loop variable, a
tensor parameter, a dtype, or a plain Python object (a module, a builtin) still being resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from tilelang.ir import nodes as ir
from tilelang.ir.types import ValueType


@dataclass(frozen=True)
class IRValue:
    value: ir.Value
    type: ValueType


@dataclass(frozen=True)
class Literal:
    """A Python int/float/bool constant: it takes the dtype of the tile it meets."""

    value: Any

    @property
    def default_dtype(self) -> str:
        if isinstance(self.value, bool):
            return "bool"
        return "i32" if isinstance(self.value, int) else "f32"


@dataclass(frozen=True)
class Size:
    """A size known at launch: a tensor dimension or arithmetic on them."""

    expr: sympy.Expr


@dataclass(frozen=True)
class SizeTuple:
    items: tuple[Size, ...]


@dataclass(frozen=True)
class TileRef:
    var: ir.TileVar


@dataclass(frozen=True)
class TensorRef:
    param: ir.Param


@dataclass(frozen=True)
class DTypeValue:
    name: str


@dataclass(frozen=True)
class PyObject:
    """A global (module, builtin function, ...) not yet turned into anything."""

    obj: Any


@dataclass(frozen=True)
class BoundMethod:
    """`x.sum` before it is called: the receiver and the method name."""

    receiver: Any
    name: str


@dataclass(frozen=True)
class TupleValue:
    """Several values returned by a @tl.func helper (`return a, b`)."""

    items: tuple


@dataclass(frozen=True)
class ValueTuple:
    """Several IR values returned by one call (`values, indices = tl.topk(x, k, axis)`)."""

    items: tuple[IRValue, ...]
