"""``tilelang winograd``: search, verify and report Winograd F(m, r) point sets.

Usage (standalone until wired into the main CLI)::

    python -m tilelang.passes.winograd.cli --m 6 --r 3 [--objective cond|fp16] [--seed N]
        [--json] [--max-num N] [--max-den N] [--generations N] [--no-cache]
    python -m tilelang.passes.winograd.cli --table [--seed N] [--no-cache]

Progress: while searching, a single updating line is written to stderr when it
is a TTY, and a plain line every few seconds otherwise (never with ``--json``).
Search and exact verification grow steeply with alpha = m + r - 1 (F(16,3): 20 s;
F(40,3): minutes and gigabytes), so alpha above ``--max-alpha`` (default 18) is
refused up front instead of running silently for minutes.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

from .cache import cached_search
from .pointsets import integer_points
from .report import compact_points, describe, markdown_table
from .search import DEFAULT_GENERATIONS, OBJECTIVES
from .toomcook import build_transform

__all__ = ["add_arguments", "run", "main"]

DEFAULT_MAX_ALPHA = 18
PLAIN_PROGRESS_SECONDS = 5.0  # interval of progress lines when stderr is not a terminal


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--m", type=int, default=None, help="outputs per tile (required unless --table)")
    parser.add_argument("--r", type=int, default=3, help="filter taps (default 3)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="cond",
                        help="cond: Vandermonde condition number; fp16: 2D float16 error")
    parser.add_argument("--seed", type=int, default=0, help="search seed (default 0)")
    parser.add_argument("--max-num", type=int, default=8, help="bound on |numerator| (default 8)")
    parser.add_argument("--max-den", type=int, default=8, help="bound on denominator (default 8)")
    parser.add_argument("--generations", type=int, default=DEFAULT_GENERATIONS,
                        help=f"ES generations in total (default {DEFAULT_GENERATIONS})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--max-alpha", type=int, default=DEFAULT_MAX_ALPHA,
                        help=f"refuse m + r - 1 above this (default {DEFAULT_MAX_ALPHA}; cost grows steeply)")
    parser.add_argument("--table", action="store_true",
                        help="Markdown table for F(4,3), F(6,3), F(8,3)")
    return parser


class _Progress:
    def __init__(self, enabled: bool, total: int, tty: bool = True):
        self.enabled, self.total, self.dirty, self.tty = enabled, total, False, tty
        self.last = time.perf_counter()

    def __call__(self, *args):
        if not self.enabled:
            return
        label = args[0] + ": " if len(args) == 3 else ""
        gen, best = args[-2], args[-1]
        text = f"searching {label}generation {gen + 1}/{self.total + 1}  best {best:.6g}"
        if not self.tty:
            now = time.perf_counter()
            if now - self.last >= PLAIN_PROGRESS_SECONDS:
                self.last = now
                sys.stderr.write(f"tilelang winograd: {text}\n")
                sys.stderr.flush()
            return
        sys.stderr.write(f"\r\x1b[K  {text}")
        sys.stderr.flush()
        self.dirty = True

    def done(self):
        if self.enabled and self.dirty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.dirty = False


def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _result(args, progress) -> dict:
    t0 = time.perf_counter()
    res = cached_search(args.m, args.r, args.objective, seed=args.seed, max_num=args.max_num,
                        max_den=args.max_den, generations=args.generations,
                        progress=progress, use_cache=not args.no_cache)
    progress.done()
    found = describe(res.transform)
    base = describe(build_transform(args.m, args.r, integer_points(args.m, args.r)), verify=False)
    fc, bc = found["condition_numbers"], base["condition_numbers"]
    improvement = {k: (bc[k] / fc[k] if fc[k] > 0 else math.inf) for k in fc}
    return {
        "m": args.m, "r": args.r, "alpha": args.m + args.r - 1,
        "objective": args.objective, "objective_value": res.value,
        "seed": args.seed, "max_num": args.max_num, "max_den": args.max_den,
        "generations": args.generations,
        "points": found["points"],
        "verified": found["verified"], "verified_1d": found["verified_1d"],
        "verified_2d": found["verified_2d"],
        "condition_numbers": fc,
        "fp16_errors": found["fp16_errors"],
        "integer_points": {"points": base["points"], "condition_numbers": bc,
                           "fp16_errors": base["fp16_errors"]},
        "improvement_over_integer": improvement,
        "from_cache": res.from_cache,
        "search_seconds": res.seconds,
        "evaluations": res.evaluations,
        "seconds": time.perf_counter() - t0,
    }


def _print_human(d: dict, out) -> None:
    from fractions import Fraction
    pts = [Fraction(p) for p in d["points"]]
    w = out.write
    w(f"Winograd F({d['m']},{d['r']})  alpha={d['alpha']}  objective={d['objective']}  "
      f"seed={d['seed']}  grid |num|<={d['max_num']} den<={d['max_den']}\n")
    w(f"points: {', '.join(d['points'])}, inf\n")
    w(f"        ({compact_points(pts)}, inf)\n")
    w(f"verified (exact): 1D {'ok' if d['verified_1d'] else 'FAILED'}, "
      f"2D {'ok' if d['verified_2d'] else 'FAILED'}\n\n")
    fc, bc = d["condition_numbers"], d["integer_points"]["condition_numbers"]
    imp = d["improvement_over_integer"]
    w(f"{'condition number':<18}{'found':>14}{'integer pts':>14}{'improvement':>13}\n")
    for k, name in (("vandermonde", "Vandermonde"), ("vandermonde_2d", "Vandermonde 2D"),
                    ("AT", "A^T"), ("G", "G"), ("BT", "B^T")):
        w(f"{name:<18}{fc[k]:>14.6g}{bc[k]:>14.6g}{imp[k]:>12.3g}x\n")
    fe, be = d["fp16_errors"], d["integer_points"]["fp16_errors"]
    w(f"\n{'fp16 rel. error':<18}{'found':>14}{'integer pts':>14}{'improvement':>13}\n")
    for k, name in (("err_1d", "1D"), ("err_2d", "2D")):
        ratio = be[k] / fe[k] if fe[k] > 0 else math.inf
        w(f"{name:<18}{fe[k]:>14.4g}{be[k]:>14.4g}{ratio:>12.3g}x\n")
    src = "cache hit, original search" if d["from_cache"] else "search"
    w(f"\ntime: {d['seconds']:.2f} s total ({src} {d['search_seconds']:.2f} s, "
      f"{d['evaluations']} point sets evaluated)\n")


def run(args) -> int:
    out = sys.stdout
    try:
        if args.table:
            prog = _Progress(sys.stderr.isatty() and not args.json, args.generations)
            t0 = time.perf_counter()
            table = markdown_table(seed=args.seed, max_num=args.max_num, max_den=args.max_den,
                                   generations=args.generations, use_cache=not args.no_cache,
                                   progress=prog)
            prog.done()
            if args.json:
                out.write(json.dumps({"table_markdown": table,
                                      "seconds": time.perf_counter() - t0}) + "\n")
            else:
                out.write(table + "\n")
                out.write(f"\n(total {time.perf_counter() - t0:.2f} s)\n")
            return 0
        if args.m is None:
            sys.stderr.write("tilelang winograd: --m is required (or use --table)\n")
            return 2
        if args.m < 1 or args.r < 1:
            sys.stderr.write("tilelang winograd: error: --m and --r must be positive\n")
            return 2
        alpha = args.m + args.r - 1
        if alpha > args.max_alpha:
            sys.stderr.write(f"tilelang winograd: error: F({args.m},{args.r}) has alpha = {alpha} points, above "
                             f"--max-alpha {args.max_alpha}: search and exact verification grow steeply with "
                             "alpha (minutes and gigabytes near 40); raise --max-alpha to run it anyway\n")
            return 2
        prog = _Progress(not args.json, args.generations, tty=sys.stderr.isatty())
        d = _result(args, prog)
    except ValueError as exc:
        sys.stderr.write(f"tilelang winograd: error: {exc}\n")
        return 2
    if args.json:
        out.write(json.dumps(_jsonable(d)) + "\n")
    else:
        _print_human(d, out)
    return 0 if d["verified"] else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tilelang winograd",
                                     description="Winograd F(m, r) point search (exact, verified)")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
