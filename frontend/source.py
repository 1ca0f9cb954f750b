"""Getting a kernel function's Python source as an `ast` with correct file positions."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

from tilelang.errors import Loc, TileLangError, UnsupportedSyntaxError


@dataclass
class FunctionSource:
    fn: Any
    name: str
    file: str
    tree: ast.FunctionDef
    line_offset: int  # add to ast line numbers
    col_offset: int  # add to ast column numbers (indentation removed by dedent)
    text: str  # the dedented source, part of the cache key

    def loc(self, node: ast.AST) -> Loc:
        return Loc(self.file, getattr(node, "lineno", 1) + self.line_offset,
                   getattr(node, "col_offset", 0) + self.col_offset)

    @property
    def globals(self) -> dict:
        return getattr(self.fn, "__globals__", {})

    def closure_value(self, name: str):
        """A free variable of the kernel function (a closure cell), or raise KeyError."""
        code = getattr(self.fn, "__code__", None)
        if code is not None and name in code.co_freevars and self.fn.__closure__:
            return self.fn.__closure__[code.co_freevars.index(name)].cell_contents
        raise KeyError(name)


def parse_function(fn) -> FunctionSource:
    try:
        file = inspect.getsourcefile(fn) or "<unknown>"
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError) as e:
        raise TileLangError(f"cannot read the source of {getattr(fn, '__name__', fn)!r}: {e}. "
                            "Kernels must be defined in a file, not typed at an interactive prompt") from None
    raw = "".join(lines)
    text = textwrap.dedent(raw)
    indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
    module = ast.parse(text)
    tree = module.body[0]
    if not isinstance(tree, ast.FunctionDef):
        raise UnsupportedSyntaxError("@tl.tile applies to a plain `def` function",
                                     Loc(file, first, indent))
    return FunctionSource(fn, tree.name, file, tree, first - 1, indent, text)


def _load_module(path: str):
    import importlib.util
    import os
    import sys

    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise TileLangError(f"no such file: {path}")
    mod_name = "_tilelang_user_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return path, module


def file_kernels(path: str) -> list:
    """The @tl.tile kernels FILE.py defines (not those it imports), in definition order."""
    path, module = _load_module(path)
    return [v for v in vars(module).values()
            if hasattr(v, "__tilelang_kernel__") and getattr(v.fn, "__module__", None) == module.__name__]


def parse_file_function(path: str, name: str) -> FunctionSource:
    """Load FILE.py and return the source of its kernel NAME (a @tl.tile object or plain function)."""
    path, module = _load_module(path)
    obj = getattr(module, name, None)
    if obj is None:
        kernels = [k for k, v in vars(module).items() if hasattr(v, "__tilelang_kernel__")]
        hint = f"; kernels in that file: {', '.join(kernels)}" if kernels else ""
        raise TileLangError(f"{path} has no kernel named {name!r}{hint}")
    return obj
