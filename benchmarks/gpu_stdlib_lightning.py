"""stdlib.lightning_attention (Triton backend) against a chunked torch implementation on a CUDA GPU.

    python benchmarks/gpu_stdlib_lightning.py              # needs a CUDA GPU; prints device, times, ratios
    python benchmarks/gpu_stdlib_lightning.py --dry-run    # no GPU needed: checks both at a small shape on CPU

Issue 10's target: faster than a chunked torch implementation (H100, f16). The peer is
`chunked_torch` from benchmarks/stdlib_lightning_cpu.py (the same blocked algorithm as batched torch
ops in a Python loop over 64-row blocks), run in the input dtype (tensor cores) and in f32; its
backward is torch autograd through it. Times are medians of `triton.testing.do_bench` (L2 flushed).
This script has not been run on a GPU (none was available when it was written).
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stdlib_lightning_cpu import chunked_torch  # noqa: E402

from tilelang.stdlib import lightning_attention  # noqa: E402

SHAPES = [(8, 16, 4096, 128, 128), (4, 32, 8192, 64, 64), (16, 8, 2048, 128, 128)]
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16}


def make(Z, H, S, D, E, dtype, device):
    g = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(Z, H, S, x, generator=g, device=device) / x ** 0.5 for x in (D, D, E))
    decay = torch.linspace(0.01, 0.5, H, device=device)
    return q.to(dtype), k.to(dtype), v.to(dtype), decay


def check(q, k, v, decay, backend):
    """Ours against the chunked f32 peer: a wrong kernel is not timed."""
    want = chunked_torch(q, k, v, decay).float()
    got = lightning_attention(q, k, v, decay, backend=backend).float()
    scale = max(1.0, want.abs().max().item())
    err = (got - want).abs().max().item() / scale
    tol = 2e-2 if q.dtype != torch.float32 else 1e-4
    if not err <= tol:
        raise SystemExit(f"lightning_attention ({backend}) differs from chunked torch: {err:.3g} of the output's scale")
    return err


def dry_run():
    for backend in ("cpu", "triton"):
        for dtype in (torch.float32, torch.float16):
            err = check(*make(1, 3, 77, 32, 48, dtype, "cpu"), backend)
            print(f"dry run ({backend}, {dtype}): matches chunked torch on CPU, max error {err:.2e} of the output's scale")
    print("dry run ok (no GPU timing done)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="check correctness at a small shape on CPU and stop")
    args = ap.parse_args()
    if args.dry_run:
        return dry_run()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs one (use --dry-run to check it on CPU)")
    from triton.testing import do_bench

    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| case | ours | chunked torch (input dtype) | ratio | chunked torch (f32) | ratio |")
    print("|---|---|---|---|---|---|")
    for name, dtype in DTYPES.items():
        for Z, H, S, D, E in SHAPES:
            q, k, v, decay = make(Z, H, S, D, E, dtype, "cuda")
            check(q, k, v, decay, "triton")
            leaves = [t.clone().requires_grad_() for t in (q, k, v)]
            grad = torch.randn_like(v)
            cases = {
                "fwd": (lambda: lightning_attention(q, k, v, decay, backend="triton"),
                        lambda: chunked_torch(q, k, v, decay, dtype=dtype),
                        lambda: chunked_torch(q, k, v, decay)),
                "fwd+bwd": (lambda: torch.autograd.grad(lightning_attention(*leaves, decay, backend="triton"), leaves, grad),
                            lambda: torch.autograd.grad(chunked_torch(*leaves, decay, dtype=dtype), leaves, grad),
                            lambda: torch.autograd.grad(chunked_torch(*leaves, decay), leaves, grad)),
            }
            for what, (ours, peer, peer32) in cases.items():
                t, p, p32 = (do_bench(f, return_mode="median") for f in (ours, peer, peer32))
                print(f"| {what} {name} {Z}x{H}x{S}, D={D}, E={E} | {t:.3f} ms | {p:.3f} ms | {p / t:.2f}x | "
                      f"{p32:.3f} ms | {p32 / t:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
