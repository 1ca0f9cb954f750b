"""What a kernel's source says about its names, read once when the kernel is decorated.

- `free_value_watcher`: module globals and closure values a kernel reads are compiled in as
  constants, so a call must notice when they change (`SCALE = 5.0` after a first call with 2.0).
  The watcher is generated code returning the current values of exactly those names (numbers,
  strings and tuples by value, other objects by identity); it is part of every call's key, so a
  change compiles a new specialization. Attributes of those objects (`cfg.SCALE`) are read at compile
  time and not watched.
- `tensor_uses`: where each parameter is first used as a tensor, so passing a number for it gets a
  message at that line.
"""

from __future__ import annotations

import ast
import builtins

from tilelang.errors import Loc

_BY_VALUE = (int, float, bool, str, complex, bytes, tuple, type(None))
_MISSING = object()


def _local_names(tree: ast.FunctionDef) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
    return out


def free_names(tree: ast.FunctionDef, params) -> list[str]:
    """Names the kernel reads that are not parameters or its own variables, in first-use order."""
    local = _local_names(tree) | set(params)
    seen: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            if node.id not in seen:
                seen.append(node.id)
    return seen


def _key_of(value):
    return value if type(value) in _BY_VALUE else id(value)


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell: the closure variable is not assigned yet
        return _MISSING


def _no_free_values():
    return None


def free_value_watcher(src, params):
    """A function () -> hashable snapshot of the globals and closure values the kernel reads."""
    fn = src.fn
    code = getattr(fn, "__code__", None)
    freevars = code.co_freevars if code is not None else ()
    closure = getattr(fn, "__closure__", None) or ()
    g = getattr(fn, "__globals__", {})
    parts, env = [], {"k": _key_of, "cv": _cell_value, "g": g, "M": _MISSING}
    for name in free_names(src.tree, params):
        if name in freevars and closure:
            env[f"c{len(parts)}"] = closure[freevars.index(name)]
            parts.append(f"k(cv(c{len(parts)}))")
        elif name in g or not hasattr(builtins, name):
            parts.append(f"k(g.get({name!r}, M))")
    if not parts:
        return _no_free_values
    exec(f"def watch():\n    return ({', '.join(parts)},)\n", env)  # noqa: S102 (names are identifiers)
    return env["watch"]


def tensor_uses(src, params) -> dict[str, Loc]:
    """Parameter -> location of its first use as a tensor (`x[...]`, `x.shape`, `x.dtype`)."""
    out: dict[str, Loc] = {}
    nodes = [n for n in ast.walk(src.tree) if isinstance(n, (ast.Subscript, ast.Attribute))]
    for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset)):
        base = node.value
        if isinstance(base, ast.Name) and base.id in params and base.id not in out:
            if isinstance(node, ast.Subscript) or node.attr in ("shape", "dtype"):
                out[base.id] = src.loc(node)
    return out
