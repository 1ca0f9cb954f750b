"""Exact Toom-Cook construction of Winograd F(m, r) transforms, and exact verification.

Conventions
-----------
``alpha = m + r - 1``.  A transform is made of ``alpha - 1`` distinct finite points
``p_0 .. p_{alpha-2}`` plus the point at infinity (always implicit, always last).
The three matrices satisfy, for the 1D correlation ``y[i] = sum_j d[i + j] * g[j]``
(``i < m``, ``len(d) == alpha``, ``len(g) == r``)::

    y = AT @ ((G @ g) * (BT @ d))

and the nested 2D form ``Y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T``.

Derivation: linear convolution ``s = h * g`` of polynomials of degree ``m-1`` and
``r-1`` is ``s = V^{-1} [(E_r g) * (E_m h)]`` (evaluate at the ``alpha`` points,
multiply, interpolate); correlation is the transposed bilinear map, so
``AT = E_m^T``, ``G = E_r``, ``BT = V^{-T}``.  Row ``a`` of ``V^{-T}`` holds the
coefficients of the Lagrange basis polynomial ``L_a``; the row for infinity holds
the coefficients of ``M(x) = prod_j (x - p_j)``.  We then move the Lagrange
denominator ``N_a = prod_{j != a} (p_a - p_j)`` from ``BT`` into ``G`` (the classic
wincnn form: integer ``BT`` for integer points) and, when ``balance=True``
(default), rescale each row pair (``G`` row, ``BT`` row) by a power of two so that
both rows have about the same 2-norm.  Every rescaling is exact and keeps the
identity above; it only matters for the dynamic range of low-precision tiles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np
import sympy

__all__ = [
    "WinogradTransform",
    "build_transform",
    "construct_matrices",
    "verify",
    "verify_1d",
    "verify_2d",
    "verify_2d_symbolic",
    "parse_point",
    "format_point",
]


# ---------------------------------------------------------------------------
# points
# ---------------------------------------------------------------------------

def parse_point(p) -> Fraction:
    """Convert ``p`` (int, Fraction, sympy Rational, float, or a string such as
    ``"5/6"``) to an exact :class:`fractions.Fraction`.

    Floats are converted exactly (``0.1`` is *not* 1/10); pass strings or
    Fractions for decimal values.  Infinity / NaN are rejected: the point at
    infinity is always implicit.
    """
    if isinstance(p, bool):
        raise ValueError(f"invalid Winograd point {p!r}")
    if isinstance(p, Fraction):
        return p
    if isinstance(p, int):
        return Fraction(p)
    if isinstance(p, sympy.Basic):
        if not (p.is_Rational):
            raise ValueError(f"Winograd points must be rational, got {p!r}")
        return Fraction(int(p.p), int(p.q))
    if isinstance(p, float):
        if not math.isfinite(p):
            raise ValueError(
                f"Winograd points must be finite ({p!r}); the point at infinity is implicit")
        return Fraction(p)
    if isinstance(p, str):
        try:
            return Fraction(p.strip())
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"cannot parse Winograd point {p!r}") from exc
    try:
        return Fraction(p)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot use {p!r} as a Winograd point") from exc


def format_point(p) -> str:
    """``Fraction(5, 6) -> "5/6"``, ``Fraction(-2) -> "-2"``."""
    f = parse_point(p)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


# ---------------------------------------------------------------------------
# construction (generic over the number type: Fraction for exact, float for speed)
# ---------------------------------------------------------------------------

def _poly_from_roots(roots, one):
    """Coefficients (low -> high) of prod (x - root)."""
    coeffs = [one]
    for root in roots:
        nxt = [one * 0] * (len(coeffs) + 1)
        for k, c in enumerate(coeffs):
            nxt[k + 1] += c
            nxt[k] -= root * c
        coeffs = nxt
    return coeffs


def construct_matrices(m: int, r: int, points: Sequence, *, balance: bool = True):
    """Build ``(AT, G, BT)`` as nested lists over the number type of ``points``.

    With :class:`Fraction` points the result is exact; with floats this is a
    fast float64 version of exactly the same recipe (used inside the search).
    No validation beyond the point count is done here.
    """
    alpha = m + r - 1
    k = alpha - 1
    pts = list(points)
    if len(pts) != k:
        raise ValueError(f"F({m},{r}) needs {k} finite points, got {len(pts)}")
    one = pts[0] ** 0 if pts else 1
    zero = one * 0
    AT = [[(pts[a] ** i if a < k else (one if i == m - 1 else zero)) for a in range(alpha)]
          for i in range(m)]
    G = []
    BT = []
    for a in range(k):
        others = pts[:a] + pts[a + 1:]
        denom = one
        for q in others:
            denom *= pts[a] - q
        G.append([pts[a] ** j / denom for j in range(r)])
        row = _poly_from_roots(others, one)
        BT.append(row + [zero] * (alpha - len(row)))
    G.append([one if j == r - 1 else zero for j in range(r)])
    BT.append(_poly_from_roots(pts, one))
    if balance:
        two = one * 2
        for a in range(alpha):
            ng = math.sqrt(sum(float(x) ** 2 for x in G[a]))
            nb = math.sqrt(sum(float(x) ** 2 for x in BT[a]))
            if ng > 0 and nb > 0:
                e = int(round(0.5 * math.log2(nb / ng)))
                if e:
                    s = two ** e if e > 0 else one / two ** (-e)
                    G[a] = [x * s for x in G[a]]
                    BT[a] = [x / s for x in BT[a]]
    return AT, G, BT


# ---------------------------------------------------------------------------
# the transform object
# ---------------------------------------------------------------------------

def _imm(rows) -> sympy.ImmutableMatrix:
    return sympy.ImmutableMatrix([[sympy.Rational(x.numerator, x.denominator) for x in row]
                                  for row in rows])


@dataclass(frozen=True)
class WinogradTransform:
    """An exact Winograd F(m, r) transform (sympy rationals).

    ``points`` are the finite points (the point at infinity is implicit and is
    the last row of ``G``/``BT`` and the last column of ``AT``).
    """

    m: int
    r: int
    points: tuple
    AT: sympy.ImmutableMatrix
    G: sympy.ImmutableMatrix
    BT: sympy.ImmutableMatrix

    @property
    def alpha(self) -> int:
        return self.m + self.r - 1

    def as_numpy(self, dtype=np.float64):
        """``(AT, G, BT)`` as numpy arrays of ``dtype`` (rounded from exact values
        through float64)."""
        def conv(M):
            return np.array([[float(x) for x in M.row(i)] for i in range(M.rows)],
                            dtype=np.float64).reshape(M.rows, M.cols).astype(dtype)
        return conv(self.AT), conv(self.G), conv(self.BT)

    def point_strings(self) -> list:
        return [format_point(p) for p in self.points]

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return f"F({self.m},{self.r}) points [{', '.join(self.point_strings())}, inf]"


def build_transform(m: int, r: int, points: Iterable, *, balance: bool = True) -> WinogradTransform:
    """Exact Toom-Cook transform for F(m, r) from ``m + r - 2`` distinct finite points.

    Raises ``ValueError`` on bad sizes, a wrong number of points, duplicate or
    non-rational points.
    """
    if not (isinstance(m, int) and isinstance(r, int)) or m < 1 or r < 1:
        raise ValueError(f"F(m, r) needs integers m >= 1 and r >= 1, got m={m!r}, r={r!r}")
    pts = [parse_point(p) for p in points]
    need = m + r - 2
    if len(pts) != need:
        raise ValueError(
            f"F({m},{r}) has alpha = {m + r - 1} points: it needs exactly {need} distinct finite "
            f"points (plus the implicit point at infinity), got {len(pts)}")
    seen = {}
    for p in pts:
        if p in seen:
            raise ValueError(f"duplicate Winograd point {format_point(p)} in "
                             f"[{', '.join(format_point(q) for q in pts)}]")
        seen[p] = True
    AT, G, BT = construct_matrices(m, r, pts, balance=balance)
    return WinogradTransform(
        m=m, r=r,
        points=tuple(sympy.Rational(p.numerator, p.denominator) for p in pts),
        AT=_imm(AT), G=_imm(G), BT=_imm(BT))


# ---------------------------------------------------------------------------
# exact verification
# ---------------------------------------------------------------------------

def _shapes_ok(t: WinogradTransform) -> bool:
    a = t.m + t.r - 1
    return (t.AT.shape == (t.m, a) and t.G.shape == (a, t.r) and t.BT.shape == (a, a))


def _as_matrix(M) -> sympy.Matrix:
    return sympy.Matrix(M)


def verify_1d(t: WinogradTransform) -> bool:
    """Symbolic check: with symbolic ``d`` (alpha symbols) and ``g`` (r symbols),
    ``expand(AT[(G g) * (BT d)] - correlation) == 0`` for every output."""
    if not _shapes_ok(t):
        return False
    a = t.alpha
    d = sympy.Matrix(sympy.symbols(f"d0:{a}"))
    g = sympy.Matrix(sympy.symbols(f"g0:{t.r}"))
    AT, G, BT = _as_matrix(t.AT), _as_matrix(t.G), _as_matrix(t.BT)
    y = AT * (G * g).multiply_elementwise(BT * d)
    for i in range(t.m):
        expected = sum(d[i + j] * g[j] for j in range(t.r))
        if sympy.expand(y[i] - expected) != 0:
            return False
    return True


def verify_2d_symbolic(t: WinogradTransform) -> bool:
    """Fully symbolic 2D check (``alpha^2`` d-symbols, ``r^2`` g-symbols).

    Exact but slow for large tiles; :func:`verify_2d` is the fast exact check.
    """
    if not _shapes_ok(t):
        return False
    a, m, r = t.alpha, t.m, t.r
    d = sympy.Matrix(a, a, sympy.symbols(f"d0:{a * a}"))
    g = sympy.Matrix(r, r, sympy.symbols(f"g0:{r * r}"))
    AT, G, BT = _as_matrix(t.AT), _as_matrix(t.G), _as_matrix(t.BT)
    Y = AT * (G * g * G.T).multiply_elementwise(BT * d * BT.T) * AT.T
    for i1 in range(m):
        for i2 in range(m):
            expected = sum(d[i1 + j1, i2 + j2] * g[j1, j2] for j1 in range(r) for j2 in range(r))
            if sympy.expand(Y[i1, i2] - expected) != 0:
                return False
    return True


def _integer_matrix(M):
    """Exact integer object array ``N`` and integer scale ``s`` with ``M == N / s``."""
    vals = [[sympy.Rational(x) for x in M.row(i)] for i in range(M.rows)]
    s = 1
    for row in vals:
        for v in row:
            s = math.lcm(s, int(v.q))
    arr = np.empty((M.rows, M.cols), dtype=object)
    for i, row in enumerate(vals):
        for j, v in enumerate(row):
            arr[i, j] = int(v.p) * (s // int(v.q))
    return arr, s


def verify_2d(t: WinogradTransform) -> bool:
    """Fast exact 2D check of ``Y = AT[(G g G^T) * (BT d BT^T)]AT^T``.

    ``Y`` is bilinear in ``(g, d)``, so it is equal to the 2D correlation iff it
    is on every pair of basis inputs ``g = E[j1, j2]``, ``d = E[k1, k2]``.  We
    evaluate the nested formula on all ``r^2 * alpha^2`` basis pairs at once,
    in exact integer arithmetic (each matrix scaled by the lcm of its
    denominators; Python ints, no overflow), and compare with the exact answer
    ``Y[i1, i2] = [k1 == i1 + j1] * [k2 == i2 + j2]``.
    """
    if not _shapes_ok(t):
        return False
    m, r, a = t.m, t.r, t.alpha
    AT, sA = _integer_matrix(t.AT)
    G, sG = _integer_matrix(t.G)
    BT, sB = _integer_matrix(t.BT)
    Gt, Bt = G.T, BT.T
    # Gg[j1, j2, a, b] = G[a, j1] G[b, j2]  (= G E_{j1 j2} G^T)
    Gg = Gt[:, None, :, None] * Gt[None, :, None, :]
    # Bd[k1, k2, a, b] = BT[a, k1] BT[b, k2]  (= BT E_{k1 k2} BT^T)
    Bd = Bt[:, None, :, None] * Bt[None, :, None, :]
    H = Gg.reshape(r * r, 1, a, a) * Bd.reshape(1, a * a, a, a)
    Y = np.tensordot(H, AT, axes=([2], [1]))          # (j, k, b, i1)
    Y = np.tensordot(Y, AT, axes=([2], [1]))          # (j, k, i1, i2)
    scale = (sA * sG * sB) ** 2
    expected = np.zeros((r * r, a * a, m, m), dtype=object)
    for j1 in range(r):
        for j2 in range(r):
            for i1 in range(m):
                for i2 in range(m):
                    expected[j1 * r + j2, (i1 + j1) * a + (i2 + j2), i1, i2] = scale
    return bool(np.all(Y == expected))


def verify(t: WinogradTransform) -> bool:
    """Both exact checks (1D symbolic, 2D exact)."""
    return verify_1d(t) and verify_2d(t)
