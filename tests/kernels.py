"""Kernels shared by several test files (kernels must live in a file for the frontend to read)."""

import tilelang as tl


@tl.tile
def add_kernel(x, y, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] + y[n]


@tl.tile(divisible_by={"M": 16, "N": 16, "K": 16})
def gemm_divisible(a, b, c):
    M, K = a.shape
    K, N = b.shape
    M, N = c.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = acc.to(c.dtype)


@tl.tile
def softmax_kernel(x, out):
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
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=float("-inf")).to(tl.float32)
            out[m, n] = (tl.exp(v - row_max[:, None]) / denom[:, None]).to(out.dtype)


@tl.tile
def elementwise_kernel(x, y, out_f, out_b, scale):
    M, N = x.shape
    M, N = y.shape
    for m, n in tl.tile([M, N]):
        a = x[m, n].to(tl.float32)
        b = y[m, n].to(tl.float32)
        r = tl.where(a > b, tl.sqrt(tl.abs(a)) * scale, tl.exp(-b * b) - 1.5)
        r = tl.maximum(r, tl.minimum(a, b)) + tl.sigmoid(a) * tl.log(1.0 + b * b)
        out_f[m, n] = r.to(out_f.dtype)
        out_b[m, n] = (a < 0.0) | (b >= 1.0)


@tl.tile
def row_reduce_kernel(x, sums, maxes, argmins):
    (M, N) = x.shape
    for m in tl.tile(M):
        for n in tl.tile(N, block=[64]):
            v = tl.load(x[m, n], other=float("inf"))
            argmins[m] = tl.argmin(v, axis=1) + n.start
            maxes[m] = tl.max(tl.where(n.index[None, :] < N, v, float("-inf")), axis=1)
            sums[m] = tl.sum(tl.where(n.index[None, :] < N, v, 0.0), axis=1)


@tl.tile
def causal_mask_kernel(s, out):
    M, N = s.shape
    for m, n in tl.tile([M, N]):
        keep = m.index[:, None] >= n.index[None, :]
        out[m, n] = tl.where(keep, s[m, n], 0.0)


@tl.tile
def gather_rows_kernel(x, idx, out):
    R, D = x.shape
    (G,) = idx.shape
    G, D = out.shape
    for g, d in tl.tile([G, D]):
        rows = idx[g]
        out[g, d] = tl.load(x[rows, d], mask=(g.index < G)[:, None])


@tl.tile
def int_math_kernel(x, y, q, r):
    (N,) = x.shape
    for n in tl.tile(N):
        q[n] = x[n] // y[n]
        r[n] = x[n] % y[n]
