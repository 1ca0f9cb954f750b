"""GPU timings of the k-means / softmax / norm stdlib functions (Triton backend) against torch, peers
in the same run: the issue's target is k-means assignment >= 2x torch (matmul + argmin) at
1M x 1024 x 128 (points x centroids x features), and a full `kmeans` faster than a torch Lloyd loop.

    python benchmarks/gpu_stdlib_kmeans.py              # needs a CUDA GPU; f32
    python benchmarks/gpu_stdlib_kmeans.py --dry-run    # no GPU: checks every case at a small shape on CPU

Prints the device name, then per case our time, the peer's time and ratio = peer / ours (> 1: we are
faster). Times are medians of triton.testing.do_bench (device events after warm-up, L2 flushed).
Every case is checked against the peer before it is timed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stdlib_kmeans_cpu import torch_assign, torch_lloyd  # noqa: E402

from tilelang.stdlib import kmeans, kmeans_assign, layer_norm, rms_norm, softmax  # noqa: E402


def cases(full: bool):
    """(name, ours, peer, check) per case; `full` picks the issue's GPU shapes, else small CPU ones."""
    dev = "cuda" if full else "cpu"
    backend = "triton" if full else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)
    P, C, D = (1 << 20, 1024, 128) if full else (3000, 70, 24)
    x = torch.randn(P, D, device=dev, generator=g)
    c = torch.randn(C, D, device=dev, generator=g)
    yield (f"kmeans_assign f32 P={P} C={C} D={D}", lambda: kmeans_assign(x, c, backend=backend),
           lambda: torch_assign(x, c), lambda o, p: (o == p).float().mean().item() > 0.999)
    Pk, k, Dk, iters = (1 << 20, 1024, 128, 10) if full else (3000, 16, 24, 3)
    xk = torch.randn(Pk, Dk, device=dev, generator=g) + 4 * torch.randn(k, Dk, device=dev, generator=g)[
        torch.randint(k, (Pk,), device=dev, generator=g)]
    init = xk[torch.randperm(Pk, device=dev, generator=g)[:k]].clone()
    yield (f"kmeans f32 P={Pk} k={k} D={Dk} iters={iters}", lambda: kmeans(xk, k, iters, init=init, backend=backend)[1],
           lambda: torch_lloyd(xk, init, iters)[1], lambda o, p: (o == p).float().mean().item() > 0.99)
    M, N = (16384, 4096) if full else (64, 1030)
    for dt in (torch.float16, torch.float32):
        s = torch.randn(M, N, device=dev, generator=g).to(dt)
        w, b = torch.randn(N, device=dev, generator=g).to(dt), torch.randn(N, device=dev, generator=g).to(dt)
        tol = dict(rtol=1e-2, atol=1e-2) if dt == torch.float16 else dict(rtol=1e-4, atol=1e-4)
        name = str(dt).removeprefix("torch.")
        yield (f"softmax {name} {M}x{N}", lambda s=s: softmax(s, backend=backend), lambda s=s: torch.softmax(s, -1),
               lambda o, p, tol=tol: torch.allclose(o.float(), p.float(), **tol))
        yield (f"layer_norm {name} {M}x{N}", lambda s=s, w=w, b=b: layer_norm(s, N, w, b, backend=backend),
               lambda s=s, w=w, b=b: F.layer_norm(s, (N,), w, b),
               lambda o, p, tol=tol: torch.allclose(o.float(), p.float(), **tol))
        yield (f"rms_norm {name} {M}x{N}", lambda s=s, w=w: rms_norm(s, N, w, eps=1e-6, backend=backend),
               lambda s=s, w=w: F.rms_norm(s, (N,), w, eps=1e-6),
               lambda o, p, tol=tol: torch.allclose(o.float(), p.float(), **tol))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="no GPU: check every case at a small shape on CPU")
    args = ap.parse_args()
    if args.dry_run:
        for name, ours, peer, check in cases(full=False):
            assert check(ours(), peer()), f"{name}: our result disagrees with the peer's"
            print(f"dry run ok: {name}")
        return
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --dry-run to check the cases on CPU (no timings are made there)")
    from triton.testing import do_bench

    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}\n")
    print("| case | ours | torch | ratio (torch / ours) |")
    print("|---|---|---|---|")
    for name, ours, peer, check in cases(full=True):
        assert check(ours(), peer()), f"{name}: our result disagrees with the peer's"
        t_ours = do_bench(ours, return_mode="median")
        t_peer = do_bench(peer, return_mode="median")
        print(f"| {name} | {t_ours:.3f} ms | {t_peer:.3f} ms | {t_peer / t_ours:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
