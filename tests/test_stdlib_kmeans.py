"""stdlib kmeans / kmeans_assign on every backend against a float64 numpy Lloyd reference.

"Exact Lloyd" here: the assignments equal the float64 reference's for every point whose two nearest
centroids differ in squared distance by more than the f32 error bound of the comparison (`gap_bound`
below); where they are closer (a near tie), the chosen centroid is within that bound of the nearest.
Exact ties (equal f32 scores) go to the lowest centroid index, as numpy's argmin.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned
from hypothesis import given, settings
from hypothesis import strategies as st
from tilelang.stdlib import kmeans, kmeans_assign

import tilelang as tl
from tilelang.errors import LaunchError

SMALL = tl.Config(BLOCK_P=16, BLOCK_C=16)
EPS32 = 2.0 ** -24


def sq_dists(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """[P, C] squared distances in float64, from differences (no cancellation)."""
    return ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)


def gap_bound(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per point, a worst-case bound on the f32 error of the difference of two centroids' scores
    ||c - s||^2 - 2 (x - s).(c - s) (s the centroids' mean, as kmeans_assign shifts): a D-term f32
    dot product errs by at most ~D eps |x - s||c - s|, plus the roundings of the shifts and norms."""
    s = c.mean(0)
    xs = ((x - s) ** 2).sum(1)
    cs = ((c - s) ** 2).sum(1).max()
    return 2 * (x.shape[1] + 5) * EPS32 * (xs + 2 * cs)


def lloyd_reference(x: np.ndarray, init: np.ndarray, iters: int):
    """Lloyd's algorithm in float64: assign (lowest index at ties), mean per cluster, an empty
    cluster keeps its centroid; then a last assignment. Returns (centroids, assignments)."""
    c = init.astype(np.float64).copy()
    for _ in range(iters):
        a = sq_dists(x, c).argmin(1)
        for j in range(c.shape[0]):
            if (a == j).any():
                c[j] = x[a == j].mean(0)
    return c, sq_dists(x, c).argmin(1)


def check_assignment(x64: np.ndarray, c64: np.ndarray, got: np.ndarray):
    d = sq_dists(x64, c64)
    want = d.argmin(1)
    order = np.sort(d, axis=1)
    gap = order[:, 1] - order[:, 0] if c64.shape[0] > 1 else np.full(len(x64), np.inf)
    bound = gap_bound(x64, c64)
    clear = gap > bound
    assert (got[clear] == want[clear]).all(), "assignment differs from float64 where the gap exceeds the f32 bound"
    chosen = d[np.arange(len(x64)), got]
    assert (chosen - order[:, 0] <= bound).all(), "a near-tie choice is farther than the f32 bound allows"
    return clear


def blobs(P, k, D, seed, spread=10.0, noise=0.2):
    """Well-separated clusters: k centers spread far apart, points near them; the last blob has
    exactly one point (a cluster of one is a mean of one)."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, D, generator=g, dtype=torch.float64) * spread
    labels = torch.randint(max(k - 1, 1), (P,), generator=g)
    labels[:k] = torch.arange(k)  # every blob has a point
    return centers[labels] + noise * torch.randn(P, D, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(P=st.integers(1, 90), C=st.sampled_from([1, 3, 17, 40]), D=st.sampled_from([3, 6]),
       dtype=st.sampled_from(["f32", "f16", "bf16"]), offset=st.sampled_from([0.0, 50.0]), seed=st.integers(0, 2**16))
def test_assign_matches_float64(backend, P, C, D, dtype, offset, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(P, D, generator=g) + offset).to(TORCH_DTYPES[dtype])
    c = (torch.randn(C, D, generator=g) + offset).to(TORCH_DTYPES[dtype])
    runner = kmeans_assign  # the wrapper allocates; poisoning is checked through the kernel below
    got, dist = runner(x, c, return_distances=True, config=SMALL, backend=backend)
    assert got.dtype == torch.int64 and got.shape == (P,)
    x64, c64 = x.double().numpy(), c.double().numpy()
    check_assignment(x64, c64, got.numpy())
    best = sq_dists(x64, c64)[np.arange(P), got.numpy()]
    # the distance is ||x - s||^2 + score: the same bound plus the rounding of ||x - s||^2
    err = np.abs(dist.double().numpy() - best)
    assert (err <= gap_bound(x64, c64) + 1e-6).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_assign_kernel_writes_every_point(backend):
    """The kernel itself on poisoned outputs, with shapes that are not tile multiples."""
    from tilelang.stdlib.kmeans import (
        _prepared,
        column_mean_kernel,
        kmeans_assign_kernel,
    )

    x, c = torch.randn(53, 6), torch.randn(21, 6)
    shift = poisoned((6,), torch.float32)
    column_mean_kernel(c, shift, backend=backend)
    cen_t, cnorm = _prepared(c, shift, backend)
    assign, dist = poisoned((53,), torch.int64), poisoned((53,), torch.float32)
    kmeans_assign_kernel(x, shift, cen_t, cnorm, assign, dist, config=SMALL, backend=backend)
    assert_close(shift, c.double().mean(0), "f32", 21)
    check_assignment(x.double().numpy(), c.double().numpy(), assign.numpy())
    assert_close(dist, torch.cdist(x.double(), c.double()).min(1).values ** 2, "f32", 6 * 8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_ties_pick_lowest_index(backend):
    """Duplicated centroids (in different centroid tiles) and points equidistant from +-e0 in exact
    arithmetic: the lowest index wins, as in numpy's argmin."""
    C, D = 40, 6
    c = torch.randn(C, D)
    c[35] = c[3]  # 3 and 35 tie for every point; tiles of 16 put them in different tiles
    c[20] = c[19]  # within one tile
    x = torch.cat([c[3] + 0.01 * torch.randn(10, D), c[19] + 0.01 * torch.randn(10, D)])
    got = kmeans_assign(x, c, config=SMALL, backend=backend)
    assert got[:10].tolist() == [3] * 10 and got[10:].tolist() == [19] * 10
    # exact equidistance: x = 0 and centroids +-e0 (their mean, the shift, is 0: everything exact)
    c2 = torch.zeros(2, D)
    c2[0, 0], c2[1, 0] = -1.0, 1.0
    x2 = torch.zeros(3, D)
    x2[:, 1] = torch.tensor([0.0, 2.0, -3.0])
    assert kmeans_assign(x2, c2, config=SMALL, backend=backend).tolist() == [0, 0, 0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_near_ties_are_within_the_f32_bound(backend):
    """Two centroids closer together than f32 resolves at these magnitudes: the f32 choice may
    differ from float64's for points near their bisector, but never by more than the bound."""
    g = torch.Generator().manual_seed(5)
    D = 6
    base = torch.randn(1, D, generator=g) * 100
    c = torch.cat([base, base + 1e-5 * torch.randn(1, D, generator=g), base + 30.0])
    x = base + torch.randn(60, D, generator=g)
    got = kmeans_assign(x, c, config=SMALL, backend=backend).numpy()
    clear = check_assignment(x.double().numpy(), c.double().numpy(), got)
    assert not clear.all(), "the case was meant to contain near ties"
    assert (got != 2).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("iters", [0, 1, 4])
def test_kmeans_matches_lloyd_float64(backend, iters):
    P, k, D = 77, 5, 6
    x64 = blobs(P, k, D, seed=iters)
    x = x64.float()
    # a deliberately poor start: no centroid in blob 3 and two in another, so Lloyd iterations move
    # them; centroid 3 starts on blob 4's single point (point 4), a cluster of one
    init = x[torch.tensor([0, 1, 2, 4, 5])].clone()
    init[4] = x[5] + 0.05
    cen, asg = kmeans(x, k, iters, init=init, config=SMALL, backend=backend)
    want_c, want_a = lloyd_reference(x.double().numpy(), init.double().numpy(), iters)
    assert asg.dtype == torch.int64 and cen.dtype == torch.float32 and cen.shape == (k, D)
    assert (asg.numpy() == want_a).all()
    assert_close(cen, torch.from_numpy(want_c), "f32", P)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(P=st.integers(8, 150), k=st.integers(1, 7), D=st.just(6), iters=st.integers(0, 3),
       dtype=st.sampled_from(["f32", "f16", "bf16"]), seed=st.integers(0, 2**16))
def test_kmeans_random_blobs(backend, P, k, D, iters, dtype, seed):
    """Random sizes and dtypes; the start has one centroid per blob (points 0..k-1), so no
    centroid pair shares a blob and no point is near a tie: assignments equal float64 Lloyd's."""
    x = blobs(P, k, D, seed).to(TORCH_DTYPES[dtype])
    init = x[:k].float()
    cen, asg = kmeans(x, k, iters, init=init, config=SMALL, backend=backend)
    want_c, want_a = lloyd_reference(x.double().numpy(), init.double().numpy(), iters)
    assert (asg.numpy() == want_a).all()
    assert_close(cen, torch.from_numpy(want_c), "f32", P)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_cluster_keeps_its_centroid(backend):
    x = blobs(40, 3, 6, seed=1).float()
    init = torch.cat([x[:3], torch.full((1, 6), 1e4)])  # centroid 3 is far from every point
    cen, asg = kmeans(x, 4, 3, init=init, config=SMALL, backend=backend)
    want_c, want_a = lloyd_reference(x.double().numpy(), init.double().numpy(), 3)
    assert (asg.numpy() == want_a).all() and (asg != 3).all()
    assert torch.equal(cen[3], init[3])
    assert_close(cen, torch.from_numpy(want_c), "f32", 40)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeded_inits(backend):
    x = blobs(120, 4, 6, seed=2).float()
    rows = {tuple(r) for r in x.tolist()}
    for init in ("random", "k-means++"):
        c0, _ = kmeans(x, 4, 0, init=init, seed=7, config=SMALL, backend=backend)
        assert all(tuple(r) in rows for r in c0.tolist()), "seeding picks data points"
        assert len({tuple(r) for r in c0.tolist()}) == 4, "k distinct points"
        again, _ = kmeans(x, 4, 0, init=init, seed=7, config=SMALL, backend=backend)
        assert torch.equal(c0, again), "the same seed gives the same start"
    # k-means++ on well-separated blobs starts with one point per blob, so Lloyd finds the blobs
    cen, asg = kmeans(x, 4, 5, seed=3, config=SMALL, backend=backend)
    start = kmeans(x, 4, 0, seed=3, config=SMALL, backend=backend)[0]
    want_c, want_a = lloyd_reference(x.double().numpy(), start.double().numpy(), 5)
    assert (asg.numpy() == want_a).all()
    assert_close(cen, torch.from_numpy(want_c), "f32", 120)
    assert len(set(asg.tolist())) == 4


@pytest.mark.slow
def test_atomic_update_order_is_within_rounding():
    """The update's f64 atomic sums land in thread order; over repeated multi-threaded cpu runs the
    f32 centroids agree to an ulp or so (usually exactly)."""
    x = blobs(20000, 3, 6, seed=4).float()  # enough work for the launcher to use every core
    init = x[:3].clone()
    runs = [kmeans(x, 3, 2, init=init, config=SMALL, backend="cpu")[0] for _ in range(3)]
    for r in runs[1:]:
        torch.testing.assert_close(r, runs[0], rtol=2 ** -22, atol=0)


def test_wrapper_errors():
    x = torch.randn(10, 3)
    with pytest.raises(LaunchError, match="must be 2-D"):
        kmeans_assign(torch.randn(10), x)
    with pytest.raises(LaunchError, match="features"):
        kmeans_assign(x, torch.randn(4, 5))
    with pytest.raises(LaunchError, match="dtype"):
        kmeans_assign(x.double(), x)
    with pytest.raises(LaunchError, match="k must be"):
        kmeans(x, 11, 2)
    with pytest.raises(LaunchError, match="k must be"):
        kmeans(x, 0, 2)
    with pytest.raises(LaunchError, match="init"):
        kmeans(x, 2, 2, init="farthest")
    with pytest.raises(LaunchError, match="init has shape"):
        kmeans(x, 2, 2, init=torch.randn(3, 3))
    with pytest.raises(LaunchError, match="iters"):
        kmeans(x, 2, -1)


@pytest.mark.slow
def test_gpu_benchmark_dry_run():
    """benchmarks/gpu_stdlib_kmeans.py --dry-run: every GPU case checked at a small shape on CPU."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_stdlib_kmeans.py"
    r = subprocess.run([sys.executable, str(script), "--dry-run"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("dry run ok") == 8


def test_kmeans_on_identical_points():
    """Every point equal: k-means++ has no distance to sample by (all weights 0), every point ties
    between equal centroids (index 0 wins), the other clusters stay empty and keep their centroid."""
    x = torch.full((10, 6), 2.5)
    cen, asg = kmeans(x, 3, 2, config=SMALL, backend="cpu")
    assert (asg == 0).all() and torch.equal(cen, torch.full((3, 6), 2.5))
