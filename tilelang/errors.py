"""User-facing errors.

Every mistake a user can make surfaces as a `TileLangError` subclass. When it carries a source
location it renders like a compiler diagnostic::

    gemm.py:12:16: error: shape mismatch in `@`: [BLOCK_M, BLOCK_K] @ [BLOCK_N, BLOCK_K] ...
        acc += a[m, k] @ b[n, k]
                   ^

Anything else escaping the compiler is a bug and is wrapped in `InternalCompilerError`.
"""

from __future__ import annotations

import linecache
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Loc:
    """A position in the user's source (1-based line, 0-based column, as Python's ast)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col + 1}"


UNKNOWN_LOC = Loc("<unknown>", 0, 0)


def render_location(loc: Loc | None) -> str:
    """The source line at `loc` with a caret under the column, or '' when unavailable."""
    if loc is None or loc.line <= 0:
        return ""
    text = linecache.getline(loc.file, loc.line)
    if not text:
        return ""
    text = text.rstrip("\n")
    return f"\n    {text}\n    {' ' * loc.col}^"


class TileLangError(Exception):
    """Base of every error tilelang reports to a user."""

    kind = "error"

    def __init__(self, message: str, loc: Loc | None = None):
        self.message = message
        self.loc = loc
        super().__init__(self._render())

    def _render(self) -> str:
        if self.loc is None or self.loc.line <= 0:
            return f"{self.kind}: {self.message}"
        return f"{self.loc}: {self.kind}: {self.message}{render_location(self.loc)}"


class UnsupportedSyntaxError(TileLangError):
    """A Python construct the tile DSL does not accept."""


class TileTypeError(TileLangError):
    """Wrong dtype, rank or shape for an operation."""


class ShapeMismatchError(TileTypeError):
    """Tile shapes that do not agree (e.g. the inner dimensions of `@`)."""


class NameError_(TileLangError):
    """An undefined or misused name inside a kernel."""


class LaunchError(TileLangError):
    """A kernel called with arguments that do not fit it (count, device, dtype, rank, shape)."""


class ConfigError(TileLangError):
    """A Config that does not bind the tile sizes a kernel needs, or binds them badly."""


class SoundnessError(TileLangError):
    """A kernel whose programs would compute a partial result, overwrite each other's stores or race
    (see passes/soundness.py for exactly what is checked)."""


class VerifierError(TileLangError):
    """Malformed IR (from a pass bug or a hand-written .tir file)."""


class IRParseError(TileLangError):
    """Text IR that does not parse."""


class BackendError(TileLangError):
    """A target that cannot compile or run what it was given (missing toolchain, no device)."""


class HardwareRuleError(BackendError):
    """Generated code broke a rule of the target hardware, as an emulator that enforces those rules
    reported it (e.g. the Ascend emulator: alignment, capacities, queue synchronisation)."""


class InternalCompilerError(TileLangError):
    """A tilelang bug: an unexpected exception inside the compiler."""

    kind = "internal compiler error"

    def __init__(self, message: str, loc: Loc | None = None):
        super().__init__(message + " (this is a tilelang bug; please report it with the kernel)", loc)
