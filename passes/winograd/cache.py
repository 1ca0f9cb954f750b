"""On-disk cache of search results, and :func:`best_transform` (what the compiler calls).

Location: ``$TILELANG_CACHE_DIR/winograd`` (default ``~/.cache/tilelang/winograd``),
one JSON file per ``(m, r, objective, max_num, max_den, seed, generations)``.

* Writes go to a temporary file in the same directory, are flushed and fsynced,
  then ``os.replace``-d into place: a reader never sees a half-written entry.
* On load the entry is re-checked: the points are rebuilt into an exact
  transform and verified (1D symbolic + 2D exact), the header must match the
  request, and the objective value is recomputed and must match the stored one.
  A corrupt, stale or tampered entry is ignored, recomputed and overwritten.
* Cache write failures (read-only disk ...) are ignored: the result is still
  returned.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Optional

from . import search as _search
from .conditioning import vandermonde_cond
from .toomcook import WinogradTransform, build_transform, verify_1d, verify_2d

__all__ = ["cache_dir", "cache_path", "cached_search", "best_transform", "FORMAT_VERSION"]

FORMAT_VERSION = 1


def cache_dir() -> Path:
    root = os.environ.get("TILELANG_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "tilelang")
    return Path(root) / "winograd"


def _params(m, r, objective, max_num, max_den, seed, generations):
    return {"version": FORMAT_VERSION, "m": int(m), "r": int(r), "objective": objective,
            "max_num": int(max_num), "max_den": int(max_den), "seed": int(seed),
            "generations": int(generations)}


def cache_path(m, r, objective="cond", max_num=8, max_den=8, seed=0,
               generations=_search.DEFAULT_GENERATIONS) -> Path:
    name = (f"F{int(m)}_{int(r)}_{objective}_num{int(max_num)}_den{int(max_den)}"
            f"_seed{int(seed)}_gen{int(generations)}_v{FORMAT_VERSION}.json")
    return cache_dir() / name


def _load(path: Path, params: dict) -> Optional[_search.SearchResult]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict) or data.get("params") != params:
            return None
        pts = data["points"]
        if not isinstance(pts, list) or not all(isinstance(p, str) for p in pts):
            return None
        t = build_transform(params["m"], params["r"], pts)
        for p in t.points:  # must lie in the requested grid
            if abs(p.p) > params["max_num"] or p.q > params["max_den"]:
                return None
        if not (verify_1d(t) and verify_2d(t)):
            return None
        value = _search.objective_value(t, params["objective"])
        stored = float(data["value"])
        if not (math.isfinite(value) == math.isfinite(stored)
                and (not math.isfinite(value) or abs(value - stored) <= 1e-6 * abs(stored))):
            return None
        return _search.SearchResult(
            transform=t, objective=params["objective"], value=value,
            seconds=float(data["seconds"]), evaluations=int(data["evaluations"]),
            generations=params["generations"], seed=params["seed"],
            max_num=params["max_num"], max_den=params["max_den"], method="es",
            from_cache=True)
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError, RecursionError):
        return None


def _store(path: Path, params: dict, res: _search.SearchResult) -> None:
    data = {
        "params": params,
        "points": res.transform.point_strings(),
        "value": res.value if math.isfinite(res.value) else None,
        "seconds": res.seconds,
        "evaluations": res.evaluations,
        "vandermonde_cond": vandermonde_cond(res.transform.points),
    }
    if data["value"] is None:
        return  # never cache a failed (non-finite) search
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; entries are not secret
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def cached_search(m: int, r: int, objective: str = "cond", seed: int = 0, max_num: int = 8,
                  max_den: int = 8, generations: int = _search.DEFAULT_GENERATIONS,
                  progress=None, use_cache: bool = True) -> _search.SearchResult:
    """:func:`search_points` with the on-disk cache in front of it.

    ``use_cache=False`` neither reads nor writes the cache.
    """
    if objective not in _search.OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {_search.OBJECTIVES}")
    params = _params(m, r, objective, max_num, max_den, seed, generations)
    path = cache_path(m, r, objective, max_num, max_den, seed, generations)
    if use_cache:
        hit = _load(path, params)
        if hit is not None:
            return hit
    res = _search.search_points(m, r, objective=objective, seed=seed, max_num=max_num,
                                max_den=max_den, generations=generations, progress=progress)
    if use_cache:
        _store(path, params, res)
    return res


def best_transform(m: int, r: int, objective: str = "cond", *, seed: int = 0, max_num: int = 8,
                   max_den: int = 8, generations: int = _search.DEFAULT_GENERATIONS,
                   use_cache: bool = True, progress=None) -> WinogradTransform:
    """The best verified transform for F(m, r) under ``objective`` (cached search)."""
    return cached_search(m, r, objective, seed=seed, max_num=max_num, max_den=max_den,
                         generations=generations, progress=progress,
                         use_cache=use_cache).transform
