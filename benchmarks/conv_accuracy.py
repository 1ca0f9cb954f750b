"""Accuracy of stdlib conv2d per algorithm and Winograd tile size, against torch in float64.

    python benchmarks/conv_accuracy.py

Prints the max error relative to max |reference| (random normal data, fixed seeds) for the direct
algorithm and Winograd F(2,3), F(4,3), F(6,3) with the default (searched) points, in f32 and f16.
"""

import torch
import torch.nn.functional as F

from tilelang.stdlib.conv import conv2d

SHAPES = [(2, 16, 13, 11, 8, 1), (1, 32, 9, 17, 5, 0)]


def main():
    print("| dtype | algorithm | m | shape (N,C,H,W,K,pad) | rel. max error |")
    print("|---|---|---|---|---|")
    for shape in SHAPES:
        N, C, H, W, K, pad = shape
        g = torch.Generator().manual_seed(0)
        x, w = torch.randn(N, C, H, W, generator=g), torch.randn(K, C, 3, 3, generator=g)
        for dt in (torch.float32, torch.float16):
            xx, ww = x.to(dt), w.to(dt)
            ref = F.conv2d(xx.double(), ww.double(), padding=pad)
            for alg, m in (("direct", None), ("winograd", 2), ("winograd", 4), ("winograd", 6)):
                y = conv2d(xx, ww, padding=pad, algorithm=alg, m=m, backend="reference")
                err = (y.double() - ref).abs().max().item() / ref.abs().max().item()
                print(f"| {str(dt).removeprefix('torch.')} | {alg} | {m or '-'} | {shape} | {err:.2e} |")


if __name__ == "__main__":
    main()
