"""Point search: an evolution strategy over symmetric rational point sets.

Search space (see :mod:`.pointsets`): ``0``, ``n_pairs`` pairs ``+-p`` and, when
``alpha - 1`` is even, one extra point of either sign, every magnitude a reduced
fraction ``p/q`` with ``1 <= p <= max_num`` and ``1 <= q <= max_den``.

Algorithm (:func:`search_points`), deterministic for a given ``seed``:

1. Continuous encoding: a pair magnitude ``x`` is the coordinate ``log x``; the
   extra point ``v`` is the signed log ``sign(z) * exp(|z|) / max_den``.
2. A (mu/mu_w, lambda)-ES with weighted recombination and cumulative step-size
   adaptation (the step-size rule of CMA-ES, isotropic, no covariance), with
   ``restarts`` independent runs from random means (``numpy.random.Generator``
   seeded with ``seed``).  Every sample is *snapped* to the nearest candidate
   rational (in log space), duplicates are repaired by moving to the nearest
   free candidate, and the objective is evaluated on the snapped set (memoised).
3. Discrete polish: best-improvement local search that replaces one magnitude
   (or the extra point) by any other candidate until no move improves.
4. The best set is built exactly and verified (1D symbolic and 2D exact); the
   reported objective value is recomputed from the exact transform.  A set that
   fails verification raises ``RuntimeError`` (it cannot happen for distinct
   points, but nothing unverified is ever returned).

Ties are broken by the candidate indices, so equal objective values resolve the
same way in the search and in :func:`exhaustive_points`.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from .conditioning import fp16_errors, fp16_errors_arrays, vandermonde_cond, vandermonde_cond_batch
from .pointsets import assemble, layout, positive_candidates
from .toomcook import WinogradTransform, build_transform, construct_matrices, verify_1d, verify_2d

__all__ = ["OBJECTIVES", "SearchResult", "search_points", "exhaustive_points", "objective_value"]

OBJECTIVES = ("cond", "fp16")
DEFAULT_GENERATIONS = 120
DEFAULT_RESTARTS = 4


@dataclass(frozen=True)
class SearchResult:
    transform: WinogradTransform
    objective: str
    value: float                 # objective value of ``transform`` (recomputed exactly)
    seconds: float               # wall time of the search (of the original search if cached)
    evaluations: int             # distinct point sets evaluated
    generations: int
    seed: Optional[int]
    max_num: int
    max_den: int
    method: str = "es"           # "es" or "exhaustive"
    from_cache: bool = False
    history: tuple = field(default=(), compare=False)  # best value after each generation

    @property
    def points(self) -> tuple:
        return self.transform.points


def objective_value(t: WinogradTransform, objective: str) -> float:
    """Objective of an exact transform: ``cond`` = cond_2 of the Vandermonde matrix,
    ``fp16`` = 2D float16 relative error (data seed 0)."""
    _check_objective(objective)
    if objective == "cond":
        return vandermonde_cond(t.points)
    return fp16_errors(t, seed=0)["err_2d"]


def _check_objective(objective):
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")


class _Space:
    """Candidate grid + memoised objective over keys ``(pair indices, extra index)``."""

    def __init__(self, m, r, objective, max_num, max_den):
        _check_objective(objective)
        self.m, self.r, self.objective = m, r, objective
        self.lay = layout(m, r)
        self.pos = positive_candidates(max_num, max_den)
        self.logpos = np.log(np.array([float(p) for p in self.pos]))
        # signed candidates for the extra point, sorted by value
        self.signed = [-p for p in reversed(self.pos)] + list(self.pos)
        npos = len(self.pos)
        if self.lay.n_pairs + int(self.lay.has_extra) > npos:
            raise ValueError(f"bounds max_num={max_num}, max_den={max_den} give only {npos} "
                             f"magnitudes; F({m},{r}) needs {self.lay.n_params} distinct ones")
        self.lo = float(self.logpos[0])
        self.hi = float(self.logpos[-1])
        self.span = self.hi - self.lo
        self.memo = {}

    # -- keys ---------------------------------------------------------------
    def points(self, key):
        pairs, extra = key
        ex = self.signed[extra] if extra is not None else None
        return assemble(self.m, self.r, [self.pos[i] for i in pairs], ex)

    def _extra_mag_index(self, e):
        n = len(self.pos)
        return e - n if e >= n else n - 1 - e

    def snap(self, z):
        """Continuous vector -> valid key (nearest candidates, duplicates repaired)."""
        npairs = self.lay.n_pairs
        taken = set()
        pairs = []
        order = np.argsort(z[:npairs], kind="stable")
        for j in order:
            idx = self._nearest_free(z[j], taken)
            taken.add(idx)
            pairs.append(idx)
        extra = None
        if self.lay.has_extra:
            ze = float(z[npairs])
            mag = self._nearest_free(abs(ze) + self.lo, taken)
            n = len(self.pos)
            extra = n + mag if ze >= 0 else n - 1 - mag
        return (tuple(sorted(pairs)), extra)

    def _nearest_free(self, logv, taken):
        """Index of the free candidate nearest to ``logv`` (log space; ties -> smaller)."""
        n = len(self.pos)
        right = int(np.searchsorted(self.logpos, logv))
        left = right - 1
        while left >= 0 or right < n:
            if right >= n or (left >= 0 and logv - self.logpos[left] <= self.logpos[right] - logv):
                if left not in taken:
                    return left
                left -= 1
            else:
                if right not in taken:
                    return right
                right += 1
        raise ValueError("no free candidate left")  # excluded by the size check in __init__

    # -- evaluation ---------------------------------------------------------
    def evaluate(self, keys):
        todo = [k for k in dict.fromkeys(keys) if k not in self.memo]
        if todo:
            if self.objective == "cond":
                P = np.array([[float(p) for p in self.points(k)] for k in todo],
                             dtype=np.float64).reshape(len(todo), -1)
                for k, v in zip(todo, vandermonde_cond_batch(P)):
                    self.memo[k] = float(v)
            else:
                for k in todo:
                    pts = [float(p) for p in self.points(k)]
                    AT, G, BT = construct_matrices(self.m, self.r, pts)
                    self.memo[k] = fp16_errors_arrays(AT, G, BT, seed=0, which=("2d",))["err_2d"]
        return [self.memo[k] for k in keys]

    def neighbours(self, key):
        pairs, extra = key
        out = []
        used = set(pairs)
        if extra is not None:
            used.add(self._extra_mag_index(extra))
        for slot, cur in enumerate(pairs):
            for c in range(len(self.pos)):
                if c not in used:
                    new = list(pairs)
                    new[slot] = c
                    out.append((tuple(sorted(new)), extra))
        if extra is not None:
            pset = set(pairs)
            for e in range(len(self.signed)):
                if e != extra and self._extra_mag_index(e) not in pset:
                    out.append((pairs, e))
        return out


def _finish(space, key, t0, generations, seed, method, history, max_num, max_den):
    t = build_transform(space.m, space.r, space.points(key))
    if not (verify_1d(t) and verify_2d(t)):
        raise RuntimeError(f"exact verification failed for F({space.m},{space.r}) points "
                           f"{t.point_strings()}; refusing to return it")
    return SearchResult(transform=t, objective=space.objective,
                        value=objective_value(t, space.objective),
                        seconds=time.perf_counter() - t0, evaluations=len(space.memo),
                        generations=generations, seed=seed, max_num=max_num, max_den=max_den,
                        method=method, history=tuple(history))


def _polish(space, key, value):
    while True:
        nb = space.neighbours(key)
        if not nb:
            return key, value
        vals = space.evaluate(nb)
        best_v, best_k = min(zip(vals, nb))
        if best_v < value:
            key, value = best_k, best_v
        else:
            return key, value


def search_points(m: int, r: int, objective: str = "cond", seed: int = 0, max_num: int = 8,
                  max_den: int = 8, generations: int = DEFAULT_GENERATIONS,
                  progress: Optional[Callable[[int, float], None]] = None, *,
                  restarts: int = DEFAULT_RESTARTS, popsize: Optional[int] = None) -> SearchResult:
    """ES search for the best verified symmetric point set (see module docstring).

    ``generations`` is the total number of ES generations, split over
    ``restarts`` runs; ``progress(generation, best_value)`` is called after each.
    """
    t0 = time.perf_counter()
    if int(generations) != generations or generations < 1:
        raise ValueError(f"generations must be a positive integer, got {generations!r}")
    space = _Space(m, r, objective, max_num, max_den)
    n = space.lay.n_params
    history = []
    if n == 0:
        key = ((), None)
        val = space.evaluate([key])[0]
        if progress:
            progress(0, val)
        return _finish(space, key, t0, 0, seed, "es", [val], max_num, max_den)
    rng = np.random.default_rng(seed)
    lam = popsize or max(12, 4 + int(3 * math.log(n)) + 4 * n)
    mu = lam // 2
    w = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
    w /= w.sum()
    mueff = 1.0 / float(np.sum(w ** 2))
    cs = (mueff + 2) / (n + mueff + 5)
    ds = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs
    chin = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
    lo = np.array([space.lo] * space.lay.n_pairs + [-space.span] * int(space.lay.has_extra))
    hi = np.array([space.hi] * space.lay.n_pairs + [space.span] * int(space.lay.has_extra))
    best_key, best_val = None, math.inf
    restarts = max(1, min(int(restarts), max(1, generations)))
    per = [generations // restarts + (1 if i < generations % restarts else 0)
           for i in range(restarts)]
    gen = 0
    for run_gens in per:
        mean = lo + rng.random(n) * (hi - lo)
        sigma = 0.3 * float(np.max(hi - lo))
        ps = np.zeros(n)
        for _ in range(run_gens):
            Z = rng.standard_normal((lam, n))
            X = mean + sigma * Z
            X = np.where(X < lo, 2 * lo - X, X)      # reflect, then clip
            X = np.where(X > hi, 2 * hi - X, X)
            X = np.clip(X, lo, hi)
            keys = [space.snap(x) for x in X]
            vals = space.evaluate(keys)
            order = sorted(range(lam), key=lambda i: (vals[i], keys[i]))
            if best_key is None or (vals[order[0]], keys[order[0]]) < (best_val, best_key):
                best_val, best_key = vals[order[0]], keys[order[0]]
            new_mean = w @ X[order[:mu]]
            ps = (1 - cs) * ps + math.sqrt(cs * (2 - cs) * mueff) * (new_mean - mean) / sigma
            sigma *= math.exp((cs / ds) * (np.linalg.norm(ps) / chin - 1))
            sigma = float(np.clip(sigma, 1e-3, float(np.max(hi - lo))))
            mean = new_mean
            history.append(best_val)
            if progress:
                progress(gen, best_val)
            gen += 1
    best_key, best_val = _polish(space, best_key, best_val)
    history.append(best_val)
    if progress:
        progress(gen, best_val)
    return _finish(space, best_key, t0, generations, seed, "es", history, max_num, max_den)


def exhaustive_points(m: int, r: int, objective: str = "cond", max_num: int = 8,
                      max_den: int = 8, *, chunk: int = 20000) -> SearchResult:
    """Exhaustive baseline: every symmetric set in the same candidate grid."""
    t0 = time.perf_counter()
    space = _Space(m, r, objective, max_num, max_den)
    lay = space.lay
    npos = len(space.pos)
    best = (math.inf, None)

    def keys():
        for pairs in itertools.combinations(range(npos), lay.n_pairs):
            if not lay.has_extra:
                yield (pairs, None)
                continue
            ps = set(pairs)
            for e in range(len(space.signed)):
                if space._extra_mag_index(e) not in ps:
                    yield (pairs, e)

    it = keys()
    count = 0
    while True:
        batch = list(itertools.islice(it, chunk))
        if not batch:
            break
        count += len(batch)
        vals = space.evaluate(batch)
        cand = min(zip(vals, batch))
        if best[1] is None or cand < best:
            best = cand
        space.memo.clear()                      # keep memory flat
    res = _finish(space, best[1], t0, 0, None, "exhaustive", [best[0]], max_num, max_den)
    return dataclasses.replace(res, evaluations=count)
