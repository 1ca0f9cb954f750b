"""Types of IR values: a dtype and a (possibly empty) symbolic shape."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

Shape = tuple[sympy.Expr, ...]


def sym(value) -> sympy.Expr:
    """Normalize an int / str / sympy value to a sympy expression (ints become sympy.Integer)."""
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, bool):
        raise TypeError("bool is not a shape")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, str):
        return dim_symbol(value)
    raise TypeError(f"not a shape expression: {value!r}")


def dim_symbol(name: str) -> sympy.Symbol:
    """Every size symbol (tensor dims and tile sizes) is a positive integer."""
    return sympy.Symbol(name, integer=True, positive=True)


def size_subs(values: dict[str, int]) -> dict:
    """A sympy substitution binding size symbols (by name) to integers."""
    return {dim_symbol(k): sympy.Integer(v) for k, v in values.items()}


def shape(*dims) -> Shape:
    return tuple(sym(d) for d in dims)


@dataclass(frozen=True, slots=True)
class ValueType:
    """A scalar (shape ()) or a tile of `dtype` elements."""

    dtype: str
    shape: Shape = ()

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_scalar(self) -> bool:
        return not self.shape

    def with_dtype(self, dtype: str) -> "ValueType":
        return ValueType(dtype, self.shape)

    def __str__(self) -> str:
        if not self.shape:
            return self.dtype
        return f"{self.dtype}[{', '.join(format_expr(d) for d in self.shape)}]"


@dataclass(frozen=True, slots=True)
class TensorType:
    """A kernel argument in memory: dtype and one size symbol (or constant) per dimension."""

    dtype: str
    shape: Shape

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return f"tensor<{self.dtype}>[{', '.join(format_expr(d) for d in self.shape)}]"


def format_expr(e: sympy.Expr) -> str:
    """Text for a size expression, parseable by the IR grammar (integers, symbols, + - * // **)."""
    return sympy.sstr(e, order="lex")


def broadcast_shapes(a: Shape, b: Shape) -> Shape | None:
    """numpy broadcasting on symbolic shapes; None when they do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else sympy.Integer(1)
        db = b[-i] if i <= len(b) else sympy.Integer(1)
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))
