"""Numerical quality of a transform: condition numbers and simulated float16 error.

Condition numbers (float64, 2-norm, via SVD):

* ``vandermonde``: ``cond(V)`` with ``V[i, j] = p_i ** j`` over the ``alpha - 1``
  finite points (square).  This is the search objective ``"cond"``.
* ``vandermonde_2d``: its square (the nested 2D transform is the Kronecker
  product ``V (x) V`` and ``cond(V (x) V) = cond(V) ** 2``).
* ``AT``, ``G``, ``BT``: largest / smallest singular value of each matrix.

Float16 error (objective ``"fp16"``), on random standard-normal data with a fixed
seed, for ``tiles`` independent (tile, filter) pairs:

1. inputs ``d``, ``g`` are rounded to float16 (storage);
2. ``U = G g G^T`` and ``V = BT d BT^T`` are computed in float32 from the float16
   inputs with float32 transform constants and *stored* as float16;
3. ``M = U * V`` and ``Y = AT M AT^T`` are accumulated in float32;
4. error = ``||Y - Y_ref||_F / ||Y_ref||_F`` over all tiles, where ``Y_ref`` is the
   direct correlation in float64 of the *same float16-rounded* inputs (so the
   figure measures the transform, not the input quantisation, which is the same
   for every point set).  Overflow to inf/NaN gives ``inf``.

The 1D figure is the same pipeline with vectors.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "vandermonde",
    "vandermonde_cond",
    "vandermonde_cond_batch",
    "matrix_cond",
    "condition_numbers",
    "fp16_errors",
    "fp16_errors_arrays",
    "DEFAULT_TILES",
]

DEFAULT_TILES = 1024


def vandermonde(points) -> np.ndarray:
    p = np.asarray([float(x) for x in points], dtype=np.float64)
    return p[:, None] ** np.arange(len(p))[None, :]


def vandermonde_cond_batch(P: np.ndarray) -> np.ndarray:
    """``cond_2(V)`` for each row of ``P`` (shape ``(N, k)``) of finite points."""
    P = np.asarray(P, dtype=np.float64)
    n, k = P.shape
    if k == 0:
        return np.ones(n)
    V = P[:, :, None] ** np.arange(k)[None, None, :]
    with np.errstate(all="ignore"):
        s = np.linalg.svd(V, compute_uv=False)
        c = s[:, 0] / s[:, -1]
    c[~np.isfinite(c)] = np.inf
    return c


def vandermonde_cond(points) -> float:
    pts = [float(x) for x in points]
    return float(vandermonde_cond_batch(np.asarray(pts, dtype=np.float64).reshape(1, len(pts)))[0])


def matrix_cond(M: np.ndarray) -> float:
    """2-norm condition number ``s_max / s_min`` (also for non-square matrices)."""
    s = np.linalg.svd(np.asarray(M, dtype=np.float64), compute_uv=False)
    if s.size == 0 or s[-1] == 0:
        return float("inf")
    return float(s[0] / s[-1])


def condition_numbers(t) -> dict:
    """Condition numbers of a :class:`WinogradTransform` (see module docstring)."""
    AT, G, BT = t.as_numpy(np.float64)
    v = vandermonde_cond(t.points)
    return {
        "vandermonde": v,
        "vandermonde_2d": v * v,
        "AT": matrix_cond(AT),
        "G": matrix_cond(G),
        "BT": matrix_cond(BT),
    }


@functools.lru_cache(maxsize=32)
def _data(alpha: int, r: int, seed: int, tiles: int):
    rng = np.random.default_rng(seed)
    d1 = rng.standard_normal((tiles, alpha)).astype(np.float16)
    g1 = rng.standard_normal((tiles, r)).astype(np.float16)
    d2 = rng.standard_normal((tiles, alpha, alpha)).astype(np.float16)
    g2 = rng.standard_normal((tiles, r, r)).astype(np.float16)
    m = alpha - r + 1
    # float64 references: direct correlation of the float16-rounded inputs
    win1 = sliding_window_view(d1.astype(np.float64), r, axis=1)[:, :m, :]
    ref1 = np.einsum("nij,nj->ni", win1, g1.astype(np.float64))
    win2 = sliding_window_view(d2.astype(np.float64), (r, r), axis=(1, 2))[:, :m, :m]
    ref2 = np.einsum("nabjk,njk->nab", win2, g2.astype(np.float64))
    d1, g1, d2, g2 = (a.astype(np.float32) for a in (d1, g1, d2, g2))  # exact upcast
    out = []
    for a in (d1, g1, d2, g2, ref1, ref2):
        a.flags.writeable = False
        out.append(a)
    norms = (float(np.sqrt(np.sum(ref1 * ref1))), float(np.sqrt(np.sum(ref2 * ref2))))
    return tuple(out) + norms


def _rel(Y, ref, ref_norm) -> float:
    with np.errstate(all="ignore"):
        diff = Y.astype(np.float64) - ref
        err = float(np.sqrt(np.sum(diff * diff)) / ref_norm)
    return err if np.isfinite(err) else float("inf")


def fp16_errors_arrays(AT, G, BT, *, seed: int = 0, tiles: int = DEFAULT_TILES,
                       which=("1d", "2d")) -> dict:
    """Simulated float16 errors for float arrays ``AT, G, BT`` (see module docstring)."""
    AT = np.asarray(AT, dtype=np.float64).astype(np.float32)
    G = np.asarray(G, dtype=np.float64).astype(np.float32)
    BT = np.asarray(BT, dtype=np.float64).astype(np.float32)
    m, alpha = AT.shape
    r = G.shape[1]
    d1, g1, d2, g2, ref1, ref2, n1, n2 = _data(alpha, r, int(seed), int(tiles))
    out = {}
    with np.errstate(all="ignore"):
        if "1d" in which:
            U = (g1 @ G.T).astype(np.float16).astype(np.float32)
            V = (d1 @ BT.T).astype(np.float16).astype(np.float32)
            out["err_1d"] = _rel((U * V) @ AT.T, ref1, n1)
        if "2d" in which:
            U = (G @ g2 @ G.T).astype(np.float16).astype(np.float32)
            V = (BT @ d2 @ BT.T).astype(np.float16).astype(np.float32)
            out["err_2d"] = _rel(AT @ (U * V) @ AT.T, ref2, n2)
    return out


def fp16_errors(t, seed: int = 0, tiles: int = DEFAULT_TILES) -> dict:
    """``{"err_1d": ..., "err_2d": ...}``: relative Frobenius error of the float16
    pipeline against float64 for a :class:`WinogradTransform`."""
    AT, G, BT = t.as_numpy(np.float64)
    return fp16_errors_arrays(AT, G, BT, seed=seed, tiles=tiles)
