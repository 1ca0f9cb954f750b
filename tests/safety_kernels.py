"""Kernels for the issue-7 safety tests (cache faults, memory safety, large sizes, CLI misuse).
Crash tests import this file from a child process, so it must stay importable on its own."""

import tilelang as tl


@tl.tile
def add(x, y, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] + y[n]


@tl.tile
def mul(x, y, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] * y[n]


@tl.tile
def gemm(a, b, c):
    M, K = a.shape
    K, N = b.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = acc.to(c.dtype)


@tl.tile
def gather(x, idx, out):
    N, D = x.shape
    (R,) = idx.shape
    for r, d in tl.tile([R, D]):
        out[r, d] = x[idx[r], d]


@tl.tile
def scatter(src, idx, out):
    R, D = src.shape
    (R,) = idx.shape
    for r, d in tl.tile([R, D]):
        out[idx[r], d] = src[r, d]


@tl.tile
def last_column(x, out):
    M, N = x.shape
    for m in tl.tile(M):
        out[m] = x[m, -1]


@tl.tile
def column5(x, out):
    M, N = x.shape
    for m in tl.tile(M):
        out[m] = x[m, 5]


@tl.tile
def store_three(x, out):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        out[m, n] = 3


@tl.tile
def add_scalar(x, out, s):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = x[n] + s


@tl.tile
def masked_row_count(x, out):
    M, N = x.shape
    for m in tl.tile(M):
        acc = tl.zeros([m], tl.int64)
        for n in tl.tile(N):
            acc += tl.sum(tl.where(n.index[None, :] < N, x[m, n].to(tl.int64), 0), axis=1)
        out[m] = acc


@tl.tile
def row_sum_i64(x, out):
    M, N = x.shape
    for m in tl.tile(M):
        acc = tl.zeros([m], tl.int64)
        for n in tl.tile(N):
            acc += tl.sum(x[m, n].to(tl.int64), axis=1)
        out[m] = acc


@tl.tile
def positions(x, pos, acc_out):
    """Positions as values: stored into an i64 and an i32 tensor, compared, and added into an i32
    accumulator set before the loop (the i64 variant converts where the kernel fixed the type)."""
    M, N = x.shape
    for m in tl.tile(M):
        acc = tl.zeros([m], tl.int32)
        for n in tl.tile(N):
            flat = m.index[:, None] * N + n.index[None, :]
            pos[m, n] = flat.to(pos.dtype)
            acc += tl.sum(tl.where(flat % 3 == 0, x[m, n] + n.id, 0), axis=1)
        acc_out[m] = acc + m.start
