"""tilelang.stdlib.moe on a CUDA GPU (Triton backend) against the torch loop over experts, in one run.

    python benchmarks/gpu_stdlib_moe.py                    # issue 10's shapes, bf16, on the GPU
    python benchmarks/gpu_stdlib_moe.py --dtype f16 --shape 16384,4096,1024,8,2
    python benchmarks/gpu_stdlib_moe.py --tune 120       # tune both grouped GEMMs first (tuning DB)
    python benchmarks/gpu_stdlib_moe.py --dry-run          # no GPU: small shapes, checked on CPU

Per shape (T tokens, hidden H, expert width I, E experts, top_k) it prints the device name, our
time (plain top-k routing, and with token rounding "nearest"), the torch loop's time and the ratio
torch / ours (> 1: we are faster; issue 10's target is >= 1.5x). Times are medians from
`triton.testing.do_bench` (warm-up, L2 flushed between runs). Outputs are compared with the torch
loop before timing. This script has NOT been run on a GPU in the session that wrote it (none there):
no GPU figure exists yet.
"""

from __future__ import annotations

import argparse
import os
import sys

if "--dry-run" in sys.argv:  # before torch / triton load: Triton's interpreter on CPU tensors, even on a GPU host
    os.environ["TRITON_INTERPRET"] = "1"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stdlib_moe_cpu import torch_moe_loop  # noqa: E402  (the same peer as the CPU benchmark)

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
# issue 10: 16k tokens, 8 or 64 experts, top-2 / top-8. H, I: a Mixtral-like layer with narrowed
# experts (8 x 4096 x 2048) and a fine-grained Qwen3-MoE-like one (64 x 2048 x 768).
SHAPES = [(16384, 4096, 2048, 8, 2), (16384, 2048, 768, 64, 8)]
DRY_SHAPES = [(37, 24, 20, 8, 2), (50, 16, 12, 64, 8)]


def make(T, H, I, E, dt, device):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, H, generator=g).to(dt)
    logits = torch.randn(T, E, generator=g)
    wgu = (torch.randn(E, H, 2 * I, generator=g) / H ** 0.5).to(dt)
    wd = (torch.randn(E, I, H, generator=g) / I ** 0.5).to(dt)
    return [t.to(device) for t in (x, logits, wgu, wd)]


def check(ours, ref, dt):
    err = (ours.float() - ref.float()).abs().max().item() / max(1e-6, ref.float().abs().max().item())
    limit = 1e-4 if dt == torch.float32 else 3e-2
    if not err < limit:
        raise SystemExit(f"outputs differ from the torch loop: relative max error {err:.3g} >= {limit}")
    return err


def dry_run(dt, block_m):
    """CPU only: the script's code paths on small shapes, checked; nothing is timed."""
    from tilelang.stdlib import moe

    backends = ["cpu"]
    try:
        import triton  # noqa: F401

        backends.append("triton")  # its interpreter, on CPU tensors
    except ImportError:
        pass
    for T, H, I, E, k in DRY_SHAPES:
        x, logits, wgu, wd = make(T, H, I, E, dt, "cpu")
        ref = torch_moe_loop(x, logits, wgu, wd, k)
        for be in backends:
            err = check(moe(x, logits, wgu, wd, k, block_m=block_m, backend=be), ref, dt)
            _, info = moe(x, logits, wgu, wd, k, block_m=block_m, token_rounding="nearest", return_info=True,
                          backend=be)
            print(f"dry run T={T} H={H} I={I} E={E} k={k} {be}: ok (relative error {err:.2g}); "
                  f"padding rows {info.topk_padded_rows} -> {info.padded_rows} with token rounding")
    print("dry run passed; no timing was done (no GPU)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", choices=DTYPES, default="bf16")
    ap.add_argument("--block-m", type=int, default=64)
    ap.add_argument("--shape", action="append", help="T,H,I,E,top_k (repeatable)")
    ap.add_argument("--dry-run", action="store_true", help="no GPU needed: small shapes, checked on CPU")
    ap.add_argument("--tune", type=float, metavar="SECONDS", help="first run tune_moe per shape with this "
                    "budget per GEMM kernel (winners go to the tuning database and are then used)")
    args = ap.parse_args()
    dt = DTYPES[args.dtype]
    if args.dry_run:
        return dry_run(dt, 8)
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --dry-run to check the script on CPU")
    from triton.testing import do_bench

    from tilelang.stdlib import moe
    from tilelang.stdlib.moe import tune_moe

    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shape] if args.shape else SHAPES
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, dtype {args.dtype}, "
          f"block_m {args.block_m}")
    print(f"{'T':>6} {'H':>5} {'I':>5} {'E':>4} {'k':>2}  {'ours ms':>8} {'rounded ms':>10} {'torch ms':>9} "
          f"{'ratio':>6} {'ratio (rounded)':>15}  padding rows")
    for T, H, I, E, k in shapes:
        x, logits, wgu, wd = make(T, H, I, E, dt, "cuda")
        run = lambda tr=None: moe(x, logits, wgu, wd, k, block_m=args.block_m, token_rounding=tr,  # noqa: E731
                                  backend="triton")
        if args.tune:
            for tr in (None, "nearest"):
                tune_moe(x, logits, wgu, wd, k, token_rounding=tr, block_m=args.block_m, budget=args.tune,
                         backend="triton")
        check(run(), torch_moe_loop(x, logits, wgu, wd, k), dt)
        _, info = moe(x, logits, wgu, wd, k, block_m=args.block_m, token_rounding="nearest", return_info=True,
                      backend="triton")
        t_ours = do_bench(run, return_mode="median")
        t_round = do_bench(lambda: run("nearest"), return_mode="median")
        t_torch = do_bench(lambda: torch_moe_loop(x, logits, wgu, wd, k), return_mode="median")
        print(f"{T:>6} {H:>5} {I:>5} {E:>4} {k:>2}  {t_ours:>8.3f} {t_round:>10.3f} {t_torch:>9.3f} "
              f"{t_torch / t_ours:>5.2f}x {t_torch / t_round:>14.2f}x  {info.topk_padded_rows} -> {info.padded_rows}")


if __name__ == "__main__":
    main()
