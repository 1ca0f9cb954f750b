"""Side-by-side comparison of point sets (integer, classic, best-conditioned, best fp16)."""
from __future__ import annotations

import math
from typing import Callable, Optional

from .cache import cached_search
from .conditioning import condition_numbers, fp16_errors
from .pointsets import classic_points, integer_points
from .search import DEFAULT_GENERATIONS
from .toomcook import WinogradTransform, build_transform, format_point, verify_1d, verify_2d

__all__ = ["describe", "compact_points", "comparison_rows", "markdown_table", "TABLE_SIZES"]

TABLE_SIZES = ((4, 3), (6, 3), (8, 3))


def compact_points(points) -> str:
    """``0, 1, -1, 1/2, -1/2`` -> ``0, ±1, ±1/2`` (finite points; infinity implied)."""
    vals = list(points)
    out, used = [], set()
    for i, p in enumerate(vals):
        if i in used:
            continue
        if p != 0 and -p in vals[i + 1:]:
            j = vals.index(-p, i + 1)
            used.add(j)
            out.append("±" + format_point(abs(p)))
        else:
            out.append(format_point(p))
    return ", ".join(out)


def describe(t: WinogradTransform, *, verify: bool = True) -> dict:
    """Points, exact verification, condition numbers and fp16 errors of a transform."""
    d = {"points": t.point_strings(),
         "condition_numbers": condition_numbers(t),
         "fp16_errors": fp16_errors(t)}
    if verify:
        v1, v2 = verify_1d(t), verify_2d(t)
        d.update(verified_1d=v1, verified_2d=v2, verified=v1 and v2)
    return d


def comparison_rows(m: int, r: int, *, seed: int = 0, max_num: int = 8, max_den: int = 8,
                    generations: int = DEFAULT_GENERATIONS, use_cache: bool = True,
                    progress: Optional[Callable[[str, int, float], None]] = None) -> list:
    """Rows (dicts) for integer, classic, best-cond and best-fp16 sets of F(m, r)."""
    rows = []
    for label, pts in (("integer", integer_points(m, r)), ("classic", classic_points(m, r))):
        rows.append({"set": label, "transform": build_transform(m, r, pts), "seconds": None})
    for label, obj in (("best cond", "cond"), ("best fp16", "fp16")):
        cb = (lambda g, v, _o=obj: progress(f"F({m},{r}) {_o}", g, v)) if progress else None
        res = cached_search(m, r, obj, seed=seed, max_num=max_num, max_den=max_den,
                            generations=generations, progress=cb, use_cache=use_cache)
        rows.append({"set": label, "transform": res.transform, "seconds": res.seconds,
                     "from_cache": res.from_cache})
    for row in rows:
        row.update(describe(row["transform"]))
        row["m"], row["r"] = m, r
    return rows


def _fmt(x: float, digits: int = 3) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "inf"
    return f"{x:.{digits}g}"


def markdown_table(sizes=TABLE_SIZES, **kwargs) -> str:
    """Markdown table comparing the four point sets for each F(m, r) in ``sizes``."""
    lines = ["| F(m,r) | set | finite points (+ ∞) | cond(V) | cond 2D | fp16 err 1D | "
             "fp16 err 2D | verified | search s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m, r in sizes:
        for row in comparison_rows(m, r, **kwargs):
            c, e = row["condition_numbers"], row["fp16_errors"]
            secs = "-" if row["seconds"] is None else f"{row['seconds']:.2f}"
            lines.append(
                f"| F({m},{r}) | {row['set']} | {compact_points(row['transform'].points)} | "
                f"{_fmt(c['vandermonde'])} | {_fmt(c['vandermonde_2d'])} | "
                f"{_fmt(e['err_1d'])} | {_fmt(e['err_2d'])} | "
                f"{'yes' if row['verified'] else 'NO'} | {secs} |")
    return "\n".join(lines)
