"""A GEMM written under @tl.tile, run on whatever this machine has, checked against torch.

    python examples/gemm.py
"""

import torch

import tilelang as tl
from tilelang import backend as backends


@tl.tile
def gemm(a, b, c):
    M, K = a.shape
    K, N = b.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = acc.to(c.dtype)


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    M, N, K = 301, 257, 129  # deliberately not multiples of any tile size
    a = torch.randn(M, K, device=device)
    b = torch.randn(K, N, device=device)
    c = torch.full((M, N), float("nan"), device=device)  # poisoned: every element must be written
    gemm(a, b, c)
    expected = a.double() @ b.double()
    err = (c.double() - expected).abs().max().item()
    path = backends.default_for(device).name
    print(f"gemm {M}x{K} @ {K}x{N} f32 on {device}: backend={path}, max abs error vs torch float64 = {err:.3e}")
    assert err < 1e-3, "result out of tolerance"


if __name__ == "__main__":
    main()
