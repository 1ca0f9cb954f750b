"""stdlib.conv2d on the cpu backend against torch.nn.functional.conv2d on the CPU, in the same run.

    python benchmarks/stdlib_conv_cpu.py            # medians of 7 runs; --quick for 3; --tune adds a tuned row
    python benchmarks/stdlib_conv_cpu.py --threads 1  # one thread for both (less sensitive to a busy machine)

The issue's ResNet shapes (N=32, 64 channels, 56x56; N=16, 128 channels, 28x28) scaled down in the
batch (N=4 and N=2) to keep a run short on 2 cores. Every row gives our time, torch's time (same
process, same inputs, torch's own threads: 2 here), the ratio torch/ours (> 1: we are faster), and
the accuracy against torch in float64 on the same (rounded) inputs: max |error| / max |ref| and
mean |error| / mean |ref|. torch has no f16 convolution worth timing on the CPU (it is slower than
f32 there), so f16 rows compare with torch's f32 conv of the same values.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

import tilelang as tl
from tilelang.stdlib.conv import conv2d
from tilelang.stdlib.conv_tune import tune_conv2d

SHAPES = [(4, 64, 56, 56, 64), (2, 128, 28, 28, 128)]  # N, C, H, W, K; 3x3, padding 1


def median_ms(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        time.sleep(0.05)  # let other threads' spinning settle (shared machine)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def errors(y, ref):
    d = (y.double() - ref).abs()
    return d.max().item() / ref.abs().max().item(), d.mean().item() / ref.abs().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tune", action="store_true", help="also run tune_conv2d and time the winner")
    ap.add_argument("--threads", type=int, default=0, help="threads for torch and for us (default: all cores)")
    args = ap.parse_args()
    if args.threads:
        os.environ["TILELANG_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    runs = 3 if args.quick else 7
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
          f"{os.environ.get('TILELANG_NUM_THREADS', 'all cores for')} tilelang threads; medians of {runs} runs")
    print("| shape (N,C,H,W,K) 3x3 pad 1 | dtype | ours | time | torch f32 | ratio | max rel err | mean rel err |")
    print("|---|---|---|---|---|---|---|---|")
    for N, C, H, W, K in SHAPES:
        g = torch.Generator().manual_seed(0)
        x32, w32 = torch.randn(N, C, H, W, generator=g), torch.randn(K, C, 3, 3, generator=g) / (3 * C ** 0.5)
        peer = median_ms(lambda: F.conv2d(x32, w32, padding=1), runs)
        for dt in (torch.float32, torch.float16):
            x, w = x32.to(dt), w32.to(dt)
            ref = F.conv2d(x.double(), w.double(), padding=1)
            cases = [("direct", None, None), ("winograd", 2, None), ("winograd", 4, None), ("winograd", 6, None)]
            if args.tune:
                best = tune_conv2d(x, w, padding=1, backend="cpu", reps=3).best
                if best is not None:
                    cases.append(("tuned: " + best.candidate.label(), best.candidate.m, best.candidate.config))
            for name, m, cfg in cases:
                alg = "direct" if name.startswith("direct") or (name.startswith("tuned") and m is None) else "winograd"
                y = conv2d(x, w, padding=1, algorithm=alg, m=m, config=cfg, backend="cpu")
                ours = median_ms(lambda: conv2d(x, w, padding=1, algorithm=alg, m=m, config=cfg, backend="cpu"), runs)
                emax, emean = errors(y, ref)
                label = name if m is None or name.startswith("tuned") else f"winograd F({m},3)"
                print(f"| {(N, C, H, W, K)} | {str(dt)[6:]} | {label} | {ours:.2f} ms | {peer:.2f} ms | "
                      f"{peer / ours:.2f}x | {emax:.2e} | {emean:.2e} |", flush=True)


if __name__ == "__main__":
    main()
