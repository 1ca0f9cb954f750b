"""Kernels that would give wrong answers if compiled: the soundness checker must reject each at the
line marked `# UNSOUND: <message part>`. The first ones are the cases from issue 8."""

import tilelang as tl


@tl.tile
def rowsum_grid_tiled(x, out):
    M, N = x.shape
    (M,) = out.shape
    for m, n in tl.tile([M, N]):
        out[m] = tl.sum(x[m, n], axis=1)  # UNSOUND: `sum` along axis 1 reduces over grid tile `n`


@tl.tile
def softmax_grid_tiled(x, out):
    M, N = x.shape
    M, N = out.shape
    for m, n in tl.tile([M, N]):
        v = tl.load(x[m, n], other=float("-inf"))
        e = tl.exp(v - tl.max(v, axis=1)[:, None])  # UNSOUND: `max` along axis 1 reduces over grid tile `n`
        out[m, n] = e / tl.sum(e, axis=1)[:, None]


@tl.tile
def attention_grid_tiled_d(q, k, v, o, scale):
    """The repo's attention kernel before whole-dimension tiles: D tiled by the grid."""
    BH, M, D = q.shape
    BH, N, D = k.shape
    BH, N, D = v.shape
    BH, M, D = o.shape
    for bh, m, d in tl.tile([BH, M, D], block=[1, None, None]):
        q_t = q[bh.id, m, d]
        row_max = tl.full([m], float("-inf"), tl.float32)
        row_sum = tl.zeros([m], tl.float32)
        acc = tl.zeros([m, d], tl.float32)
        for n in tl.tile(N):
            s = (q_t @ k[bh.id, n, d].T) * scale  # UNSOUND: the contraction of `@` reduces over grid tile `d`
            visible = (m.index[:, None] >= n.index[None, :]) & (n.index[None, :] < N)
            s = tl.where(visible, s, float("-inf"))
            new_max = tl.maximum(row_max, tl.max(s, axis=1))
            alpha = tl.exp(row_max - new_max)
            p = tl.exp(s - new_max[:, None])
            row_sum = row_sum * alpha + tl.sum(p, axis=1)
            acc = acc * alpha[:, None] + p.to(v.dtype) @ v[bh.id, n, d]
            row_max = new_max
        o[bh.id, m, d] = (acc / row_sum[:, None]).to(o.dtype)


@tl.tile
def kmeans_grid_tiled_d(x, centroids, assign):
    P, D = x.shape
    C, D = centroids.shape
    for p, d in tl.tile([P, D]):
        pts = x[p, d]
        best = tl.full([p], float("inf"), tl.float32)
        best_idx = tl.zeros([p], tl.int32)
        for c in tl.tile(C):
            cen = centroids[c, d]
            cross = pts @ cen.T  # UNSOUND: the contraction of `@` reduces over grid tile `d`
            dist = tl.sum(cen * cen, axis=1)[None, :] - 2.0 * cross
            local = tl.min(dist, axis=1)
            local_idx = tl.argmin(dist, axis=1) + c.start
            better = local < best
            best = tl.where(better, local, best)
            best_idx = tl.where(better, local_idx, best_idx)
        assign[p] = best_idx


@tl.tile
def total_read_modify_write(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[0] = out[0] + tl.sum(x[n], axis=0)  # UNSOUND: read-modify-write race


@tl.tile
def store_ignores_grid_tile(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[0] = x[n.start]  # UNSOUND: does not depend on grid tile `n`


@tl.tile
def reads_neighbours_output(x, out):
    (N,) = x.shape
    for n in tl.tile(N):
        out[n] = out[0] + x[n]  # UNSOUND: read-modify-write race


@tl.tile
def partial_through_loop_carry(x, out):
    """The taint of a partial reduction flows through a loop-carried value into the store."""
    M, N = x.shape
    K, N = out.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([n], tl.float32)
        for k in tl.tile(K):
            acc = acc + tl.sum(x[m, n], axis=0)  # UNSOUND: `sum` along axis 0 reduces over grid tile `m`
        out[0, n] = acc


# ---- sound kernels the checker must accept (and every backend must compute) -------------------------

@tl.tile
def accumulate_in_place(x, out):
    """Each program reads and writes only its own tile of `out`: no race."""
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        out[m, n] = out[m, n] * 2.0 + x[m, n]


@tl.tile
def per_head_in_place(x, out):
    """In-place update indexed by `bh.id` (a scalar index) and a tile: programs stay disjoint."""
    BH, N = x.shape
    for bh, n in tl.tile([BH, N], block=[1, None]):
        out[bh.id, n] = out[bh.id, n] + tl.sum(x[bh.id, :], axis=0)


@tl.tile
def two_stage_partials(x, partials):
    """First stage of a two-stage row sum: one partial per (row, column tile), in its own slot."""
    M, N = x.shape
    for m, n in tl.tile([M, N], block=[None, 16]):
        partials[m, n.id] = tl.sum(x[m, n], axis=1)


@tl.tile
def normalize_by_partial_sum(x, out):
    M, N = x.shape
    M, N = out.shape
    for m, n in tl.tile([M, N]):
        v = x[m, n]
        out[m, n] = v / tl.sum(v, axis=1)[:, None]  # UNSOUND: `sum` along axis 1 reduces over grid tile `n`


@tl.tile
def two_stores_overlap(x, out):
    N, N = x.shape
    for m, n in tl.tile([N, N]):
        out[m, n] = x[m, n]
        out[n, m] = x[m, n].T  # UNSOUND: may write the same elements from programs that differ


# ---- unsound in ways the static checker cannot see: the reference interpreter catches them ----------

@tl.tile
def two_programs_per_element(x, out):
    (N,) = x.shape
    for n in tl.tile(N, block=[1]):
        out[n.id // 2] = x[n.start]


@tl.tile
def scatter_with_collisions(src, idx, out):
    (G,) = idx.shape
    for g in tl.tile(G):
        rows = idx[g]
        tl.store(out[rows], src[g], mask=g.index < G)
