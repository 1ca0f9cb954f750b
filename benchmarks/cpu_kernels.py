"""DSL kernels used by the cpu backend's benchmarks and tests (kernels must live in a file)."""

import tilelang as tl

from tilelang.stdlib.gemm import matmul_kernel  # noqa: F401  (re-exported for the benchmarks)


@tl.tile
def linear_relu_kernel(a, b, bias, c):
    """c = relu(a @ b + bias), bias broadcast over rows."""
    M, K = a.shape
    K, N = b.shape
    (N,) = bias.shape
    M, N = c.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        acc = acc + bias[n][None, :].to(tl.float32)
        c[m, n] = tl.maximum(acc, 0.0).to(c.dtype)


@tl.tile
def softmax_rows_kernel(x, out):
    """Row softmax: a max pass, a sum-of-exp pass, a normalize pass over column tiles."""
    M, N = x.shape
    M, N = out.shape
    for m in tl.tile(M):
        row_max = tl.full([m], float("-inf"), tl.float32)
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=float("-inf")).to(tl.float32)
            row_max = tl.maximum(row_max, tl.max(v, axis=1))
        denom = tl.zeros([m], tl.float32)
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=float("-inf")).to(tl.float32)
            denom += tl.sum(tl.exp(v - row_max[:, None]), axis=1)
        inv = 1.0 / denom
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=float("-inf")).to(tl.float32)
            out[m, n] = (tl.exp(v - row_max[:, None]) * inv[:, None]).to(out.dtype)
