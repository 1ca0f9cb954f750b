"""Symmetric point-set layouts, canonical baselines and the rational candidate grid.

Layout of the ``k = alpha - 1 = m + r - 2`` finite points (infinity is implicit):

* ``k == 0``: no finite point.
* ``k`` odd: ``0`` plus ``(k - 1) / 2`` pairs ``+-p``.
* ``k`` even: ``0`` plus ``(k - 2) / 2`` pairs ``+-p`` plus one *extra* point of
  either sign (distinct from 0 and from every ``+-p``).

Points are listed in the canonical order ``0, p1, -p1, p2, -p2, ..., extra`` with
``0 < p1 < p2 < ...``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "Layout",
    "layout",
    "assemble",
    "integer_points",
    "classic_points",
    "positive_candidates",
]


@dataclass(frozen=True)
class Layout:
    n_pairs: int
    has_zero: bool
    has_extra: bool

    @property
    def n_params(self) -> int:
        return self.n_pairs + int(self.has_extra)


def layout(m: int, r: int) -> Layout:
    if m < 1 or r < 1:
        raise ValueError(f"F(m, r) needs m >= 1 and r >= 1, got m={m}, r={r}")
    k = m + r - 2
    if k == 0:
        return Layout(0, False, False)
    if k % 2 == 1:
        return Layout((k - 1) // 2, True, False)
    return Layout((k - 2) // 2, True, True)


def assemble(m: int, r: int, pairs, extra=None) -> tuple:
    """Finite points (Fractions, canonical order) from pair magnitudes and extra point."""
    lay = layout(m, r)
    pairs = sorted(Fraction(p) for p in pairs)
    if len(pairs) != lay.n_pairs or any(p <= 0 for p in pairs):
        raise ValueError(f"F({m},{r}) needs {lay.n_pairs} positive pair magnitudes, got {pairs}")
    if lay.has_extra != (extra is not None):
        raise ValueError(f"F({m},{r}) {'needs' if lay.has_extra else 'takes no'} extra point")
    pts = [Fraction(0)] if lay.has_zero else []
    for p in pairs:
        pts += [p, -p]
    if extra is not None:
        pts.append(Fraction(extra))
    return tuple(pts)


def integer_points(m: int, r: int) -> tuple:
    """``0, +-1, +-2, ...`` (extra point, if any: the next positive integer)."""
    lay = layout(m, r)
    pairs = [Fraction(i) for i in range(1, lay.n_pairs + 1)]
    extra = Fraction(lay.n_pairs + 1) if lay.has_extra else None
    return assemble(m, r, pairs, extra)


def _classic_sequence():
    yield Fraction(1)
    n = 2
    while True:
        yield Fraction(n)
        yield Fraction(1, n)
        n += 1


def classic_points(m: int, r: int) -> tuple:
    """``0, +-1, +-2, +-1/2, +-3, +-1/3, ...`` (extra point: next magnitude, positive).

    F(4,3): 0, +-1, +-2;  F(6,3): 0, +-1, +-2, +-1/2;  F(8,3): 0, +-1, +-2, +-1/2, +-3.
    """
    lay = layout(m, r)
    seq = _classic_sequence()
    pairs = [next(seq) for _ in range(lay.n_pairs)]
    extra = next(seq) if lay.has_extra else None
    return assemble(m, r, pairs, extra)


def positive_candidates(max_num: int, max_den: int) -> list:
    """Sorted distinct positive rationals ``p/q`` with ``1 <= p <= max_num``,
    ``1 <= q <= max_den``."""
    if int(max_num) != max_num or int(max_den) != max_den or max_num < 1 or max_den < 1:
        raise ValueError(f"bounds must be integers >= 1, got max_num={max_num}, max_den={max_den}")
    return sorted({Fraction(p, q) for p in range(1, int(max_num) + 1)
                   for q in range(1, int(max_den) + 1)})
