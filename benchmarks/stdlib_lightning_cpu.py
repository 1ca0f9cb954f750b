"""stdlib.lightning_attention on the cpu backend against a chunked torch implementation, same run.

    python benchmarks/stdlib_lightning_cpu.py            # medians of 5 runs
    python benchmarks/stdlib_lightning_cpu.py --quick    # medians of 3, the smaller shapes only

The peer, `chunked_torch`, is the Lightning Attention-2 algorithm in batched torch ops (a Python
loop over sequence blocks; intra-block masked quadratic part plus the carried KV state), the way
one would write it without a kernel; its backward is torch autograd through it. Two comparisons: wall time with every
core (ours: the cpu backend's threads; torch: its thread pool), and process CPU time with one
thread each (`Config(num_threads=1)`, `torch.set_num_threads(1)`), which stays meaningful when
other processes share the machine (wall times then mostly measure the other processes).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import tilelang as tl
from tilelang.stdlib import lightning, lightning_attention


def chunked_torch(q, k, v, decay, block=64, dtype=torch.float32):
    """o_t = sum_{s <= t} exp(-decay)^(t-s) (q_t . k_s) v_s, block by block, computed in `dtype`
    (the GPU benchmark also runs it in f16/bf16, where torch's matmuls use tensor cores)."""
    out_dtype = v.dtype
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    Z, H, S, D = q.shape
    rate = decay.float()[:, None]
    idx = torch.arange(block, dtype=torch.float32, device=q.device)
    gap = idx[:, None] - idx[None, :]
    intra = torch.where(gap >= 0, torch.exp(-rate[:, :, None] * gap.clamp(min=0)), 0.0).to(dtype)  # [H, B, B]
    state = q.new_zeros(Z, H, D, v.shape[-1])
    outs = []
    for i in range(0, S, block):
        qi, ki, vi = q[:, :, i:i + block], k[:, :, i:i + block], v[:, :, i:i + block]
        n = qi.shape[2]
        o = ((qi @ ki.transpose(-1, -2)) * intra[:, :n, :n]) @ vi
        o = o + (qi * torch.exp(-rate * (idx[:n] + 1))[:, :, None].to(dtype)) @ state
        outs.append(o)
        state = (torch.exp(-rate * n)[:, :, None] * state).to(dtype) + \
            (ki * torch.exp(-rate * (n - 1 - idx[:n]))[:, :, None].to(dtype)).transpose(-1, -2) @ vi
    return torch.cat(outs, 2).to(out_dtype)


def median_time(fn, runs: int, clock=time.perf_counter) -> float:
    fn()  # warm-up (compiles on first use)
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def flops(Z, H, S, D, E, block) -> float:
    """Useful work of the blocked algorithm: intra-block Q K^T and P V, inter-block Q S and the update."""
    return 2.0 * Z * H * S * (block * (D + E) + 2 * D * E)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = 3 if args.quick else 5
    shapes = [(1, 8, 2048, 64, 64), (2, 8, 4096, 64, 64), (1, 4, 2048, 128, 128)]
    if args.quick:
        shapes = shapes[:1]
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}; ratio = torch time / our time (> 1: we are faster)")
    print(f"| case | ours, wall | torch, wall ({threads} threads) | ratio | ours, CPU time (1 thread) | "
          "torch, CPU time (1 thread) | ratio | our GFLOP/s (1 thread) |")
    print("|---|---|---|---|---|---|---|---|")
    for Z, H, S, D, E in shapes:
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(Z, H, S, x, generator=g) / x ** 0.5 for x in (D, D, E))
        decay = torch.linspace(0.01, 0.5, H)
        default = lightning._default_config(q, k, v, decay, v, False, "cpu")
        one = tl.Config(dict(default.tiles), num_threads=1)
        want = chunked_torch(q, k, v, decay)
        got = lightning_attention(q, k, v, decay, backend="cpu")
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        grad = torch.randn_like(v)
        for what in ("fwd", "fwd+bwd"):
            if what == "fwd":
                ours = lambda config=None: lightning_attention(q, k, v, decay, config=config, backend="cpu")  # noqa: E731
                peer = lambda: chunked_torch(q, k, v, decay)  # noqa: E731
            else:
                def ours(config=None):
                    o = lightning_attention(*leaves, decay, config=config, backend="cpu")
                    torch.autograd.grad(o, leaves, grad)

                def peer():
                    torch.autograd.grad(chunked_torch(*leaves, decay), leaves, grad)
            torch.set_num_threads(threads)
            t_ours, t_peer = median_time(ours, runs), median_time(peer, runs)
            torch.set_num_threads(1)
            c_ours = median_time(lambda: ours(one), runs, time.process_time)
            c_peer = median_time(peer, runs, time.process_time)
            torch.set_num_threads(threads)
            work = flops(Z, H, S, D, E, dict(default.tiles)["BLOCK_N"]) * (1 if what == "fwd" else 4)
            print(f"| {what} f32 {Z}x{H}x{S}, D={D}, E={E} | {t_ours * 1e3:.1f} ms | {t_peer * 1e3:.1f} ms | "
                  f"{t_peer / t_ours:.2f}x | {c_ours * 1e3:.1f} ms | {c_peer * 1e3:.1f} ms | {c_peer / c_ours:.2f}x | "
                  f"{work / c_ours / 1e9:.1f} |", flush=True)


if __name__ == "__main__":
    main()
