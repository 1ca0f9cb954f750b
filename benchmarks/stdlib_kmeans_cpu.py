"""The k-means, softmax, norm and GEMM-epilogue stdlib functions on the cpu backend against the same
computation in torch on CPU, measured in one run.

    python benchmarks/stdlib_kmeans_cpu.py            # medians of 5 runs
    python benchmarks/stdlib_kmeans_cpu.py --quick    # medians of 3, smaller shapes

ratio = torch time / our time (> 1: we are faster). Every case is checked against torch once before
it is timed. Compile time is excluded (one warm-up call).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from tilelang.stdlib import kmeans, kmeans_assign, layer_norm, matmul, rms_norm, softmax

REPS = 5


def median_time(fn, reps=None):
    time.sleep(0.2)  # let the other library's worker threads stop spin-waiting
    fn()
    ts = []
    for _ in range(reps or REPS):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def torch_assign(x, c):
    """The usual torch formulation: one P x C matrix of ||c||^2 - 2 x.c, then argmin."""
    return torch.addmm((c * c).sum(1)[None, :], x, c.T, alpha=-2.0).argmin(1)


def torch_lloyd(x, c, iters):
    """Lloyd's loop in torch: matmul + argmin, index_add_ + bincount, empty clusters kept."""
    k = c.shape[0]
    for _ in range(iters):
        a = torch_assign(x, c)
        sums = torch.zeros_like(c).index_add_(0, a, x)
        counts = torch.bincount(a, minlength=k)
        c = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None].to(c.dtype), c)
    return c, torch_assign(x, c)


def row(case, ours, peer_name, peer):
    print(f"| {case} | {ours * 1e3:.2f} ms | {peer_name} | {peer * 1e3:.2f} ms | {peer / ours:.2f}x |", flush=True)


def main():
    global REPS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="medians of 3 runs, smaller shapes")
    args = ap.parse_args()
    if args.quick:
        REPS = 3
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads\n")
    print("| case | ours | peer | peer time | ratio |")
    print("|---|---|---|---|---|")

    assign_shapes = [(65536, 256, 64), (65536, 1024, 128)] if not args.quick else [(16384, 256, 64)]
    for P, C, D in assign_shapes:
        x, c = torch.randn(P, D), torch.randn(C, D)
        assert (kmeans_assign(x, c) == torch_assign(x, c)).float().mean() > 0.999
        ours = median_time(lambda: kmeans_assign(x, c))
        row(f"kmeans_assign f32 P={P} C={C} D={D}", ours, "torch addmm+argmin", median_time(lambda: torch_assign(x, c)))
        row(f"kmeans_assign f32 P={P} C={C} D={D}", ours, "torch cdist+argmin",
            median_time(lambda: torch.cdist(x, c).argmin(1)))

    P, k, D, iters = (65536, 64, 32, 10) if not args.quick else (16384, 32, 32, 5)
    x = torch.randn(P, D) + 3 * torch.randn(k, D)[torch.randint(k, (P,))]
    init = x[torch.randperm(P)[:k]].clone()
    ours_c, ours_a = kmeans(x, k, iters, init=init)
    ref_c, ref_a = torch_lloyd(x, init, iters)
    assert (ours_a == ref_a).float().mean() > 0.99, "kmeans disagrees with the torch Lloyd loop"
    row(f"kmeans f32 P={P} k={k} D={D} iters={iters}", median_time(lambda: kmeans(x, k, iters, init=init)),
        "torch Lloyd loop", median_time(lambda: torch_lloyd(x, init, iters)))

    M, N = (4096, 4096) if not args.quick else (1024, 4096)
    x = torch.randn(M, N)
    torch.testing.assert_close(softmax(x), torch.softmax(x, -1), rtol=1e-5, atol=1e-7)
    row(f"softmax f32 {M}x{N}", median_time(lambda: softmax(x)), "torch.softmax",
        median_time(lambda: torch.softmax(x, -1)))
    xs = torch.randn(16384, 1000)
    row("softmax f32 16384x1000", median_time(lambda: softmax(xs)), "torch.softmax",
        median_time(lambda: torch.softmax(xs, -1)))
    w, b = torch.randn(N), torch.randn(N)
    torch.testing.assert_close(layer_norm(x, N, w, b), F.layer_norm(x, (N,), w, b), rtol=1e-4, atol=1e-4)
    row(f"layer_norm f32 {M}x{N}", median_time(lambda: layer_norm(x, N, w, b)), "F.layer_norm",
        median_time(lambda: F.layer_norm(x, (N,), w, b)))
    torch.testing.assert_close(rms_norm(x, N, w), F.rms_norm(x, (N,), w), rtol=1e-4, atol=1e-4)
    row(f"rms_norm f32 {M}x{N}", median_time(lambda: rms_norm(x, N, w)), "F.rms_norm",
        median_time(lambda: F.rms_norm(x, (N,), w)))

    S = 1024 if not args.quick else 512
    a, bb, bias = torch.randn(S, S), torch.randn(S, S), torch.randn(S)
    torch.testing.assert_close(matmul(a, bb, bias=bias, activation="gelu"), F.gelu(torch.addmm(bias, a, bb)),
                               rtol=1e-4, atol=1e-3)
    row(f"gelu(a@b+bias) f32 {S}^3", median_time(lambda: matmul(a, bb, bias=bias, activation="gelu")),
        "torch addmm+gelu", median_time(lambda: F.gelu(torch.addmm(bias, a, bb))))
    a2, b2, bias2 = torch.randn(4096, 256), torch.randn(256, 4096), torch.randn(4096)
    row("silu(a@b+bias) f32 4096x4096x256", median_time(lambda: matmul(a2, b2, bias=bias2, activation="silu")),
        "torch addmm+silu", median_time(lambda: F.silu(torch.addmm(bias2, a2, b2))))


if __name__ == "__main__":
    main()
