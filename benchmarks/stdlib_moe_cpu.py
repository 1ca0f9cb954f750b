"""tilelang.stdlib.moe on the cpu backend against a torch loop over experts on CPU, in the same run.

    python benchmarks/stdlib_moe_cpu.py                 # the default shapes, f32
    python benchmarks/stdlib_moe_cpu.py --dtype bf16 --repeats 5 --shape 2048,512,256,8,2 --threads 1

Each row: the median of --repeats timed calls after one warm-up call (which compiles), for
tilelang's moe (plain top-k and with token rounding) and for `torch_moe_loop`, the usual eager
reference (softmax, topk, renormalize, then per expert: gather its tokens, two matmuls, SwiGLU,
index_add_ of the weighted rows). Outputs are checked against each other before timing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tilelang.stdlib import moe

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
# T, H, I, E, top_k: a small Mixtral-like layer (few wide experts) and a fine-grained one (many narrow).
SHAPES = [(2048, 512, 512, 8, 2), (2048, 512, 128, 64, 8)]


def torch_moe_loop(x, router_logits, w_gate_up, w_down, top_k):
    """The eager torch MoE layer, looping over experts (Mixtral's HF implementation, SwiGLU experts)."""
    p = torch.softmax(router_logits.float(), dim=-1)
    w, idx = torch.topk(p, top_k, dim=-1)
    w = (w / w.sum(-1, keepdim=True)).to(x.dtype)
    I = w_down.shape[1]
    out = torch.zeros_like(x)
    for e in range(w_gate_up.shape[0]):
        tok, slot = torch.where(idx == e)
        if tok.numel() == 0:
            continue
        h = x[tok] @ w_gate_up[e]
        y = (torch.nn.functional.silu(h[:, :I]) * h[:, I:]) @ w_down[e]
        out.index_add_(0, tok, y * w[tok, slot, None])
    return out


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtype", choices=DTYPES, default="f32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--block-m", type=int, default=64)
    ap.add_argument("--shape", action="append", help="T,H,I,E,top_k (repeatable)")
    ap.add_argument("--threads", type=int, help="threads for both (torch.set_num_threads, TILELANG_NUM_THREADS)")
    args = ap.parse_args()
    if args.threads:
        import os

        os.environ["TILELANG_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shape] if args.shape else SHAPES
    dt = DTYPES[args.dtype]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, dtype {args.dtype}, "
          f"block_m {args.block_m}, median of {args.repeats}")
    print(f"{'T':>6} {'H':>5} {'I':>5} {'E':>4} {'k':>2}  {'tilelang ms':>11} {'rounded ms':>10} "
          f"{'torch ms':>9} {'ratio':>6}  padding rows (top-k -> rounded)")
    for T, H, I, E, k in shapes:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(T, H, generator=g).to(dt)
        logits = torch.randn(T, E, generator=g)
        wgu = (torch.randn(E, H, 2 * I, generator=g) / H ** 0.5).to(dt)
        wd = (torch.randn(E, I, H, generator=g) / I ** 0.5).to(dt)
        ours = moe(x, logits, wgu, wd, k, block_m=args.block_m)
        ref = torch_moe_loop(x, logits, wgu, wd, k)
        err = (ours.float() - ref.float()).abs().max().item() / max(1e-6, ref.float().abs().max().item())
        assert err < (1e-4 if dt == torch.float32 else 3e-2), f"outputs differ: relative {err}"
        _, info = moe(x, logits, wgu, wd, k, block_m=args.block_m, token_rounding="nearest", return_info=True)
        t_ours = median_time(lambda: moe(x, logits, wgu, wd, k, block_m=args.block_m), args.repeats)
        t_round = median_time(lambda: moe(x, logits, wgu, wd, k, block_m=args.block_m, token_rounding="nearest"),
                              args.repeats)
        t_torch = median_time(lambda: torch_moe_loop(x, logits, wgu, wd, k), args.repeats)
        print(f"{T:>6} {H:>5} {I:>5} {E:>4} {k:>2}  {t_ours * 1e3:>11.2f} {t_round * 1e3:>10.2f} "
              f"{t_torch * 1e3:>9.2f} {t_torch / t_ours:>5.2f}x  {info.topk_padded_rows} -> {info.padded_rows}")


if __name__ == "__main__":
    main()
