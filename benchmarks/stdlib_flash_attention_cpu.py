"""stdlib.flash_attention on the cpu backend against torch's scaled_dot_product_attention on the CPU,
in the same run: forward, and forward + backward, causal and not.

    python benchmarks/stdlib_flash_attention_cpu.py            # medians of 5 runs
    python benchmarks/stdlib_flash_attention_cpu.py --quick    # medians of 3, the first shape only
    python benchmarks/stdlib_flash_attention_cpu.py --tiles 64x64 32x64   # compare tile configs
    python benchmarks/stdlib_flash_attention_cpu.py --cpu-time   # one thread each, CPU time (min of runs)

torch runs with its own thread count (all cores) and again with one thread: on a shared machine
torch's thread pool is sometimes slower than one thread, so both are printed. Both sides compute
in f32 (torch's CPU SDPA is its own flash-attention kernel for f32). Each case first checks our
output against torch's.

`--cpu-time` runs both sides on one thread and measures the process's CPU time (the minimum of the
runs): on a machine shared with other jobs, wall-clock medians mostly measure the other jobs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import tilelang as tl
from tilelang.stdlib import flash_attention


CPU_TIME = False  # --cpu-time: process CPU time, minimum of the runs


def median_time(fn, runs: int) -> float:
    fn()  # warm-up (compiles on first use)
    clock = time.process_time if CPU_TIME else time.perf_counter
    times = []
    for _ in range(runs):
        if not CPU_TIME:
            time.sleep(0.2)  # let other threads' spinning settle
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times) if CPU_TIME else statistics.median(times)


def attention_flops(B, H, S, D, causal: bool, backward: bool) -> float:
    """2 matmuls forward (q k^T, p v), 5 more backward (recomputed q k^T, dO v^T, p^T dO, ds^T q,
    ds k); causal halves it."""
    f = 2.0 * B * H * S * S * D * (2 + (5 if backward else 0))
    return f / 2 if causal else f


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tiles", nargs="*", default=[], help="BLOCK_MxBLOCK_N configs to time (default: the stdlib's)")
    ap.add_argument("--cpu-time", action="store_true", help="one thread each, CPU time (min of runs)")
    args = ap.parse_args()
    global CPU_TIME
    CPU_TIME = args.cpu_time
    if CPU_TIME:
        torch.set_num_threads(1)
        os.environ["TILELANG_NUM_THREADS"] = "1"  # read at each launch
    runs = 3 if args.quick else 5
    shapes = [(1, 8, 1024, 64), (1, 8, 2048, 64), (1, 4, 1024, 128)]
    if args.quick:
        shapes = shapes[:1]
    configs = [tl.Config(BLOCK_M=int(a), BLOCK_N=int(b)) for a, b in (t.split("x") for t in args.tiles)] or [None]
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads; f32; ratio = torch time / our time (> 1: we are faster)"
          + ("; CPU time, one thread each (the '1 thread' columns repeat torch)" if CPU_TIME else ""))
    print("| case | tiles | ours | torch | ratio | torch (1 thread) | ratio | our GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|")
    for B, H, S, D in shapes:
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(B, H, S, D, generator=g) for _ in range(3))
        grad = torch.randn(B, H, S, D, generator=g)
        for causal in (False, True):
            want = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
            for config in configs:
                got = flash_attention(q, k, v, causal=causal, config=config)
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
                for backward in (False, True):
                    def ours():
                        if not backward:
                            return flash_attention(q, k, v, causal=causal, config=config)
                        qq, kk, vv = (t.detach().requires_grad_() for t in (q, k, v))
                        flash_attention(qq, kk, vv, causal=causal, config=config).backward(grad)

                    def peer():
                        if not backward:
                            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        qq, kk, vv = (t.detach().requires_grad_() for t in (q, k, v))
                        torch.nn.functional.scaled_dot_product_attention(qq, kk, vv, is_causal=causal).backward(grad)

                    t_ours = median_time(ours, runs)
                    t_peer = median_time(peer, runs)
                    torch.set_num_threads(1)
                    t_one = median_time(peer, runs)
                    torch.set_num_threads(threads)
                    name = f"{'fwd+bwd' if backward else 'fwd'} {'causal' if causal else 'full'} {B}x{H}x{S}x{D}"
                    tiles = "default" if config is None else f"{config.get('BLOCK_M')}x{config.get('BLOCK_N')}"
                    gflops = attention_flops(B, H, S, D, causal, backward) / t_ours / 1e9
                    print(f"| {name} | {tiles} | {t_ours * 1e3:.1f} ms | {t_peer * 1e3:.1f} ms | {t_peer / t_ours:.2f}x "
                          f"| {t_one * 1e3:.1f} ms | {t_one / t_ours:.2f}x | {gflops:.1f} |", flush=True)


if __name__ == "__main__":
    main()
