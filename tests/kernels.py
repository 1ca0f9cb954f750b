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


@tl.tile
def attention_kernel(q, k, v, o, scale):
    """Causal attention with online softmax; q, k, v, o are [batch*heads, seq, head_dim].

    The head dimension is contracted by `@`, so each program needs all of it: `:` takes it whole."""
    BH, M, D = q.shape
    BH, N, D = k.shape
    BH, N, D = v.shape
    BH, M, D = o.shape
    for bh, m in tl.tile([BH, M], block=[1, None]):
        q_t = q[bh.id, m, :]
        row_max = tl.full([m], float("-inf"), tl.float32)
        row_sum = tl.zeros([m], tl.float32)
        acc = tl.zeros([m, D], tl.float32)
        for n in tl.tile(N):
            s = (q_t @ k[bh.id, n, :].T) * scale
            visible = (m.index[:, None] >= n.index[None, :]) & (n.index[None, :] < N)
            s = tl.where(visible, s, float("-inf"))
            new_max = tl.maximum(row_max, tl.max(s, axis=1))
            alpha = tl.exp(row_max - new_max)
            p = tl.exp(s - new_max[:, None])
            row_sum = row_sum * alpha + tl.sum(p, axis=1)
            acc = acc * alpha[:, None] + p.to(v.dtype) @ v[bh.id, n, :]
            row_max = new_max
        o[bh.id, m, :] = (acc / row_sum[:, None]).to(o.dtype)


@tl.tile
def kmeans_assign_kernel(x, centroids, assign):
    """Nearest centroid per point, with a running (online) argmin over centroid tiles.

    Distances contract the feature dimension, so each program takes it whole (`:`)."""
    P, D = x.shape
    C, D = centroids.shape
    for p in tl.tile(P):
        pts = x[p, :]
        best = tl.full([p], float("inf"), tl.float32)
        best_idx = tl.zeros([p], tl.int32)
        for c in tl.tile(C):
            cen = centroids[c, :]
            cross = pts @ cen.T
            dist = tl.sum(cen * cen, axis=1)[None, :] - 2.0 * cross
            dist = tl.where(c.index[None, :] < C, dist, float("inf"))
            local = tl.min(dist, axis=1)
            local_idx = tl.argmin(dist, axis=1) + c.start
            better = local < best
            best = tl.where(better, local, best)
            best_idx = tl.where(better, local_idx, best_idx)
        assign[p] = best_idx


@tl.tile
def softmax_rows_kernel(x, out):
    """Row softmax in one pass: each program takes whole rows (`x[m, :]`); padding reads -inf."""
    M, N = x.shape
    M, N = out.shape
    for m in tl.tile(M):
        v = tl.load(x[m, :], other=float("-inf")).to(tl.float32)
        e = tl.exp(v - tl.max(v, axis=1)[:, None])
        out[m, :] = (e / tl.sum(e, axis=1)[:, None]).to(out.dtype)


@tl.tile
def rowsum_whole_kernel(x, out):
    """out[m] = sum of row m, with the row taken whole by `tl.tile(N, block=N)`."""
    M, N = x.shape
    for m, n in tl.tile([M, N], block=[None, N]):
        out[m] = tl.sum(x[m, n], axis=1)


@tl.tile
def moe_expert_rows_kernel(x, rows, w, out):
    """out[i] = x[rows[i]] @ w[e] for the rows routed to one expert e (gathered by index)."""
    T, K = x.shape
    (R,) = rows.shape
    K, N = w.shape
    R, N = out.shape
    for r, n in tl.tile([R, N]):
        idx = rows[r]
        acc = tl.zeros([r, n], tl.float32)
        for k in tl.tile(K):
            acc += tl.load(x[idx, k], mask=(r.index < R)[:, None]) @ w[k, n]
        out[r, n] = acc.to(out.dtype)


@tl.tile
def scatter_rows_kernel(src, idx, out):
    """out[idx[g]] = src[g] (indices assumed in range; out-of-range is undefined)."""
    G, D = src.shape
    (G,) = idx.shape
    R, D = out.shape
    for g, d in tl.tile([G, D]):
        rows = idx[g]
        tl.store(out[rows, d], src[g, d], mask=(g.index < G)[:, None])
