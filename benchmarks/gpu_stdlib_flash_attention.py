"""stdlib.flash_attention (Triton backend) against torch's scaled_dot_product_attention on a CUDA GPU.

    python benchmarks/gpu_stdlib_flash_attention.py              # needs a CUDA GPU
    python benchmarks/gpu_stdlib_flash_attention.py --dry-run    # no GPU needed: checks correctness on CPU
    python benchmarks/gpu_stdlib_flash_attention.py --tiles 128x64 64x64   # also time these tile configs

Issue 10's targets (H100, f16): forward >= 0.9x SDPA, backward >= 0.7x SDPA's backward, causal and
not, seq 4096 and 8192, head dim 64 and 128. Both sides run in the same process; times are medians
of `triton.testing.do_bench` (warm-up, L2 flushed). "bwd" is timed as forward + backward minus the
forward, for both. Prints the device, our time, SDPA's, the ratio (SDPA time / ours: > 1 means we
are faster) and our TFLOP/s. Each case is checked against SDPA first: a wrong kernel is not timed.
This script has not been run on a GPU (none was available when it was written).
"""

from __future__ import annotations

import argparse

import torch

import tilelang as tl
from tilelang.stdlib import flash_attention

# (batch, heads, seq, head_dim): ~16k tokens per batch as in FlashAttention-2's benchmarks
SHAPES = [(4, 16, 4096, 128), (2, 16, 8192, 128), (8, 32, 4096, 64), (4, 32, 8192, 64)]


def make(B, H, S, D, dtype, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    return [torch.randn(B, H, S, D, generator=g, device=device, dtype=torch.float32).to(dtype) for _ in range(4)]


def check(q, k, v, grad, causal, backend, config=None):
    """Ours against SDPA (in f32) forward and backward; returns the worst error relative to each
    output's scale."""
    leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    ref = [t.detach().float().requires_grad_() for t in (q, k, v)]
    out = flash_attention(*leaves, causal=causal, config=config, backend=backend)
    want = torch.nn.functional.scaled_dot_product_attention(*ref, is_causal=causal)
    out.backward(grad)
    want.backward(grad.float())
    worst = 0.0
    for name, got, exp in [("o", out, want)] + [(f"d{n}", a.grad, b.grad) for n, a, b in zip("qkv", leaves, ref)]:
        err = (got.float() - exp).abs().max().item() / max(1.0, exp.abs().max().item())
        tol = 1e-4 if q.dtype == torch.float32 else 3e-2
        if not err <= tol:
            raise SystemExit(f"flash_attention ({backend}, {q.dtype}, causal={causal}) {name} differs from SDPA: "
                             f"{err:.3g} of its scale")
        worst = max(worst, err)
    return worst


def dry_run():
    for backend in ("cpu", "triton"):
        for dtype in (torch.float32, torch.float16):
            for causal in (False, True):
                err = check(*make(1, 2, 77, 64, dtype, "cpu"), causal, backend,
                            tl.Config(BLOCK_M=16, BLOCK_N=16) if backend == "triton" else None)
                print(f"dry run ({backend}, {dtype}, causal={causal}): matches SDPA on CPU, worst error "
                      f"{err:.2e} of the output's scale")
    print("dry run ok (no GPU timing done)")


def tflops(B, H, S, D, causal, what):
    f = 4.0 * B * H * S * S * D * (2.5 if what == "bwd" else 1.0)  # bwd: 5 matmuls to the forward's 2
    return f / (2 if causal else 1) / 1e12


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="check correctness at a small shape on CPU and stop")
    ap.add_argument("--tiles", nargs="*", default=[], help="BLOCK_MxBLOCK_N configs to time besides the default")
    args = ap.parse_args()
    if args.dry_run:
        return dry_run()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs one (use --dry-run to check it on CPU)")
    from triton.testing import do_bench

    configs = [None] + [tl.Config(BLOCK_M=int(a), BLOCK_N=int(b), num_warps=8 if int(a) >= 128 else 4,
                                  num_stages=2) for a, b in (t.split("x") for t in args.tiles)]
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}; f16; ratio = SDPA time / ours")
    print("| case | tiles | ours | SDPA | ratio | our TFLOP/s |")
    print("|---|---|---|---|---|---|")
    for B, H, S, D in SHAPES:
        q, k, v, grad = make(B, H, S, D, torch.float16, "cuda")
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        for causal in (False, True):
            sdpa_f = do_bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal),
                              return_mode="median")
            sdpa_fb = do_bench(lambda: torch.autograd.grad(torch.nn.functional.scaled_dot_product_attention(
                *leaves, is_causal=causal), leaves, grad), return_mode="median")
            for config in configs:
                check(q, k, v, grad, causal, "triton", config)
                ours_f = do_bench(lambda: flash_attention(q, k, v, causal=causal, config=config, backend="triton"),
                                  return_mode="median")
                ours_fb = do_bench(lambda: torch.autograd.grad(flash_attention(
                    *leaves, causal=causal, config=config, backend="triton"), leaves, grad), return_mode="median")
                tiles = "default" if config is None else f"{config.get('BLOCK_M')}x{config.get('BLOCK_N')}"
                for what, ours, peer in (("fwd", ours_f, sdpa_f), ("bwd", ours_fb - ours_f, sdpa_fb - sdpa_f)):
                    name = f"{what} {'causal' if causal else 'full'} {B}x{H}x{S}x{D}"
                    print(f"| {name} | {tiles} | {ours:.3f} ms | {peer:.3f} ms | {peer / ours:.2f}x | "
                          f"{tflops(B, H, S, D, causal, what) / (ours / 1e3):.0f} |", flush=True)


if __name__ == "__main__":
    main()
