"""k-means (Lloyd's algorithm) written in the tile DSL: `kmeans(x, k, iters)` and the assignment
step alone, `kmeans_assign(x, centroids)`.

Assignment (`kmeans_assign_kernel`): each program takes a tile of points whole along the feature
dimension and runs an online argmin over tiles of centroids, so the P x C distance matrix never
exists. It compares ||c - s||^2 - 2 (x - s).(c - s), which orders centroids exactly as ||x - c||^2
does (the dropped ||x - s||^2 is the same for every centroid of a point), in f32. `s` is a shift
(the data's column mean in `kmeans`, the centroids' in `kmeans_assign`): translating both sides
changes no distance, but it makes the magnitudes the f32 rounding is relative to small when the
data sits far from the origin. Ties resolve to the lowest centroid index, as numpy's argmin does.

Update: a segment reduction by atomics. `kmeans_accumulate_kernel` adds every point into the f64
sum of its cluster and counts the cluster's points (int32, exact). Float atomics land in no fixed
order; in f64 a sum's error (and its run-to-run difference) is ~P * 1e-16 relative, far below f32
resolution, so the new f32 centroid (the f64 mean rounded once) is the same on every run except in
the rare case where the f64 mean lies within that distance of an f32 rounding boundary (then runs
may differ by one f32 ulp). `kmeans_update_kernel` divides, keeps the old centroid for an empty cluster, prepares the
shifted centroids and their squared norms for the next assignment and clears the sums.
"""

from __future__ import annotations

import tilelang as tl
from tilelang.errors import LaunchError


@tl.tile
def column_mean_kernel(x, mean):
    """mean[d] = mean over rows of x[:, d] (f32; used as the shift, which need not be exact)."""
    P, D = x.shape
    (D,) = mean.shape
    for d in tl.tile(D):
        acc = tl.zeros([d], tl.float32)
        for p in tl.tile(P):
            acc += tl.sum(x[p, d].to(tl.float32), axis=0)
        mean[d] = acc / P


@tl.tile
def prepare_centroids_kernel(centroids, shift, centroids_t, cnorm):
    """centroids_t[:, c] = centroids[c] - shift (transposed for the assignment's `@`), cnorm[c] its
    squared norm."""
    C, D = centroids.shape
    (D,) = shift.shape
    D, C = centroids_t.shape
    (C,) = cnorm.shape
    for c in tl.tile(C):
        cen = centroids[c, :].to(tl.float32) - shift[:][None, :]
        centroids_t[:, c] = cen.T
        cnorm[c] = tl.sum(cen * cen, axis=1)


@tl.tile
def kmeans_assign_kernel(x, shift, centroids_t, cnorm, assign, min_dist):
    """assign[p] = argmin_c ||x[p] - c||^2 (lowest index at ties), min_dist[p] that squared distance.

    Online argmin over centroid tiles: only a BLOCK_P x BLOCK_C tile of scores exists at a time."""
    P, D = x.shape
    (D,) = shift.shape
    D, C = centroids_t.shape
    (C,) = cnorm.shape
    (P,) = assign.shape
    (P,) = min_dist.shape
    for p in tl.tile(P):
        pts = x[p, :].to(tl.float32) - shift[:][None, :]
        best = tl.full([p], float("inf"), tl.float32)
        best_idx = tl.zeros([p], tl.int32)
        for c in tl.tile(C):
            score = cnorm[c][None, :] - 2.0 * (pts @ centroids_t[:, c])
            score = tl.where(c.index[None, :] < C, score, float("inf"))
            local = tl.min(score, axis=1)
            local_idx = tl.argmin(score, axis=1) + c.start
            better = local < best  # strict: an equal score in a later tile keeps the lower index
            best = tl.where(better, local, best)
            best_idx = tl.where(better, local_idx, best_idx)
        assign[p] = best_idx.to(assign.dtype)
        # ||x - c||^2 = ||x - s||^2 + score; rounding can push a zero distance below 0
        min_dist[p] = tl.maximum(best + tl.sum(pts * pts, axis=1), 0.0)


@tl.tile
def kmeans_accumulate_kernel(x, assign, sums, counts):
    """sums[a] += x[p] and counts[a] += 1 for a = assign[p]: the update's segment reduction, by
    atomics (f64 sums, int32 counts)."""
    P, D = x.shape
    (P,) = assign.shape
    C, D = sums.shape
    (C,) = counts.shape
    for p in tl.tile(P):
        a = assign[p]
        real = p.index < P
        tl.atomic_add(sums[a, :], x[p, :].to(tl.float64), mask=real[:, None])
        tl.atomic_add(counts[a], tl.full([p], 1, tl.int32), mask=real)


@tl.tile
def kmeans_update_kernel(sums, counts, shift, centroids, centroids_t, cnorm):
    """centroids[c] = sums[c] / counts[c] (kept as it was for an empty cluster); prepares the next
    assignment's shifted, transposed centroids and norms; clears sums and counts."""
    C, D = sums.shape
    (C,) = counts.shape
    (D,) = shift.shape
    C, D = centroids.shape
    D, C = centroids_t.shape
    (C,) = cnorm.shape
    for c in tl.tile(C):
        n = counts[c]
        mean = (sums[c, :] / tl.maximum(n, 1).to(tl.float64)[:, None]).to(tl.float32)
        cen = tl.where((n > 0)[:, None], mean, centroids[c, :])
        centroids[c, :] = cen
        shifted = cen - shift[:][None, :]
        centroids_t[:, c] = shifted.T
        cnorm[c] = tl.sum(shifted * shifted, axis=1)
        sums[c, :] = tl.zeros([c, D], tl.float64)
        counts[c] = tl.zeros([c], tl.int32)


@tl.tile
def min_sq_dist_kernel(x, center, min_dist):
    """min_dist[p] = min(min_dist[p], ||x[p] - center||^2): k-means++ seeding, one new center at a
    time, computed from differences (no cancellation)."""
    P, D = x.shape
    (D,) = center.shape
    (P,) = min_dist.shape
    for p in tl.tile(P):
        diff = x[p, :].to(tl.float32) - center[:][None, :].to(tl.float32)
        min_dist[p] = tl.minimum(min_dist[p], tl.sum(diff * diff, axis=1))


# Tile sizes worth sweeping for the assignment (`tune(kmeans_assign_kernel, ..., configs=...)`, see
# docs/stdlib.md): the winner lands in the tuning database, which later calls without config= consult.
ASSIGN_TUNING_SPACE = [tl.Config(BLOCK_P=bp, BLOCK_C=bc) for bp in (32, 64, 128) for bc in (32, 64, 128)]

# ---- Python wrappers -------------------------------------------------------------------------------

SUPPORTED = ("float16", "bfloat16", "float32")


def _check_points(fn: str, name: str, t):
    import torch

    if not isinstance(t, torch.Tensor):
        raise LaunchError(f"{fn}: `{name}` must be a torch tensor, got {type(t).__name__}")
    if t.dim() != 2:
        raise LaunchError(f"{fn}: `{name}` must be 2-D [points, features], got shape {tuple(t.shape)}")
    if str(t.dtype).removeprefix("torch.") not in SUPPORTED:
        raise LaunchError(f"{fn}: `{name}` has dtype {t.dtype}; supported: {', '.join(SUPPORTED)}")
    if t.shape[1] == 0:
        raise LaunchError(f"{fn}: `{name}` has no features (shape {tuple(t.shape)})")


def _prepared(centroids, shift, backend):
    """(centroids - shift) transposed and its squared norms, as the assignment kernel reads them."""
    import torch

    C, D = centroids.shape
    cen_t = torch.empty((D, C), dtype=torch.float32, device=centroids.device)
    cnorm = torch.empty((C,), dtype=torch.float32, device=centroids.device)
    prepare_centroids_kernel(centroids, shift, cen_t, cnorm, backend=backend)
    return cen_t, cnorm


def kmeans_assign(x, centroids, *, return_distances: bool = False, config: tl.Config | None = None,
                  backend: str | None = None):
    """The index (int64) of the nearest centroid for every row of `x` ([P, D]; centroids [C, D]),
    lowest index at ties; with `return_distances=True` also the squared distances (f32).

    Computed in f32 from f16/bf16/f32 inputs without forming the P x C distance matrix."""
    import torch

    _check_points("kmeans_assign", "x", x)
    _check_points("kmeans_assign", "centroids", centroids)
    if x.shape[1] != centroids.shape[1]:
        raise LaunchError(f"kmeans_assign: x has {x.shape[1]} features but centroids have "
                          f"{centroids.shape[1]} (shapes {tuple(x.shape)} and {tuple(centroids.shape)})")
    if centroids.shape[0] == 0:
        raise LaunchError("kmeans_assign: no centroids (shape (0, D))")
    if x.device != centroids.device:
        raise LaunchError(f"kmeans_assign: x is on {x.device} but centroids are on {centroids.device}")
    P, D = x.shape
    shift = torch.empty((D,), dtype=torch.float32, device=x.device)
    column_mean_kernel(centroids, shift, backend=backend)
    cen_t, cnorm = _prepared(centroids, shift, backend)
    assign = torch.empty((P,), dtype=torch.int64, device=x.device)
    dist = torch.empty((P,), dtype=torch.float32, device=x.device)
    if P:
        kmeans_assign_kernel(x, shift, cen_t, cnorm, assign, dist, config=config, backend=backend)
    return (assign, dist) if return_distances else assign


def _init_centroids(x, k, init, generator, backend):
    """Initial centroids [k, D] in f32: given, k distinct random points, or k-means++ seeding."""
    import torch

    P, D = x.shape
    if isinstance(init, torch.Tensor):
        if tuple(init.shape) != (k, D):
            raise LaunchError(f"kmeans: init has shape {tuple(init.shape)}; expected (k, D) = {(k, D)}")
        if not init.is_floating_point():
            raise LaunchError(f"kmeans: init must be a floating tensor, got {init.dtype}")
        if init.device != x.device:
            raise LaunchError(f"kmeans: init is on {init.device} but x is on {x.device}")
        return init.to(torch.float32).clone()
    if init == "random":
        rows = torch.randperm(P, generator=generator)[:k].to(x.device)
        return x[rows].to(torch.float32)
    if init == "k-means++":
        # D^2 sampling, all on x's device (no host round trip per center): the next center is the
        # first point whose running sum of min_dist exceeds u * total, u uniform from `generator`.
        # Points at distance 0 (the centers themselves) have zero weight, so centers are distinct
        # unless every point coincides with one (total 0: the last point is taken).
        centers = torch.empty((k, D), dtype=torch.float32, device=x.device)
        uniforms = torch.rand(k, generator=generator, dtype=torch.float64).to(x.device)
        first = int(torch.randint(P, (1,), generator=generator))
        centers[0] = x[first].to(torch.float32)
        min_dist = torch.full((P,), float("inf"), dtype=torch.float32, device=x.device)
        for i in range(1, k):
            min_sq_dist_kernel(x, centers[i - 1], min_dist, backend=backend)
            cdf = torch.cumsum(min_dist, 0, dtype=torch.float64)
            row = torch.searchsorted(cdf, (uniforms[i] * cdf[-1]).reshape(1), right=True).clamp_(max=P - 1)
            centers[i] = x[row[0]].to(torch.float32)
        return centers
    raise LaunchError(f"kmeans: init must be 'k-means++', 'random' or a [k, D] tensor, got {init!r}")


def kmeans(x, k: int, iters: int = 20, *, init="k-means++", seed: int = 0, config: tl.Config | None = None,
           backend: str | None = None):
    """Lloyd's k-means on the rows of `x` ([P, D], f16/bf16/f32) -> (centroids [k, D] f32,
    assignments [P] int64).

    `iters` rounds of assign-then-update from `init` ('k-means++' seeding, 'random': k distinct
    points, or a [k, D] tensor), then a last assignment, so the returned assignments are those of the
    returned centroids. An empty cluster keeps its previous centroid. `seed` drives the seeding."""
    import torch

    _check_points("kmeans", "x", x)
    if type(k) is not int or not 1 <= k <= x.shape[0]:
        raise LaunchError(f"kmeans: k must be an int in [1, number of points = {x.shape[0]}], got {k!r}")
    if type(iters) is not int or iters < 0:
        raise LaunchError(f"kmeans: iters must be a non-negative int, got {iters!r}")
    P, D = x.shape
    dev = x.device
    generator = torch.Generator().manual_seed(seed)
    centroids = _init_centroids(x, k, init, generator, backend)
    shift = torch.empty((D,), dtype=torch.float32, device=dev)
    column_mean_kernel(x, shift, backend=backend)
    cen_t, cnorm = _prepared(centroids, shift, backend)
    assign = torch.empty((P,), dtype=torch.int64, device=dev)
    dist = torch.empty((P,), dtype=torch.float32, device=dev)
    sums = torch.zeros((k, D), dtype=torch.float64, device=dev)
    counts = torch.zeros((k,), dtype=torch.int32, device=dev)
    for _ in range(iters):
        kmeans_assign_kernel(x, shift, cen_t, cnorm, assign, dist, config=config, backend=backend)
        kmeans_accumulate_kernel(x, assign, sums, counts, backend=backend)
        kmeans_update_kernel(sums, counts, shift, centroids, cen_t, cnorm, backend=backend)
    kmeans_assign_kernel(x, shift, cen_t, cnorm, assign, dist, config=config, backend=backend)
    return centroids, assign
