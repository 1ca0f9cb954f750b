"""Size expressions (sympy) as plain Python integer code, generated once per specialization.

The launch path evaluates grid sizes and backend size slots on every call; doing that with
sympy's `subs` costs tens of microseconds, so each expression is printed once as Python source
over int variables (`ceiling(N/64)` becomes `(-((-(N)) // (64)))`) and compiled.
"""

from __future__ import annotations

from typing import Callable

import sympy

from tilelang.ir.types import size_subs


class NoIntegerForm(ValueError):
    """The expression has no exact integer Python form (the caller falls back to sympy)."""


def py_int_code(e: sympy.Expr, name_of: Callable[[str], str]) -> str:
    """Python source computing the integer `e`, with each size symbol spelled `name_of(symbol)`."""
    e = sympy.sympify(e)
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        return name_of(e.name)
    if isinstance(e, (sympy.ceiling, sympy.floor)):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        n, d = py_int_code(num, name_of), py_int_code(den, name_of)
        return f"(({n}) // ({d}))" if isinstance(e, sympy.floor) else f"(-((-({n})) // ({d})))"
    if e.is_Add:
        return "(" + " + ".join(py_int_code(a, name_of) for a in e.args) + ")"
    if e.is_Mul:
        num, den = sympy.fraction(e)
        if den != 1:
            raise NoIntegerForm(f"non-integer size expression {e}")
        return "(" + " * ".join(py_int_code(a, name_of) for a in e.args) + ")"
    if isinstance(e, sympy.Mod):
        return f"(({py_int_code(e.args[0], name_of)}) % ({py_int_code(e.args[1], name_of)}))"
    if isinstance(e, (sympy.Max, sympy.Min)):
        fn = "max" if isinstance(e, sympy.Max) else "min"
        return f"{fn}(" + ", ".join(py_int_code(a, name_of) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        return f"(({py_int_code(e.base, name_of)}) ** {int(e.exp)})"
    raise NoIntegerForm(f"size expression {e} has no integer form")


def size_evaluator(exprs) -> Callable[[dict], list[int]]:
    """A function (symbol name -> int) -> [int per expression], generated as Python code."""
    try:
        src = "lambda s: [" + ", ".join(py_int_code(e, lambda n: f"s[{n!r}]") for e in exprs) + "]"
        return eval(src, {"max": max, "min": min})  # noqa: S307 (printed from sympy nodes, no user text)
    except NoIntegerForm:
        def slow(s):
            subs = size_subs(s)
            return [int(sympy.sympify(e).subs(subs)) for e in exprs]
        return slow
