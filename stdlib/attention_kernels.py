"""FlashAttention-2 forward and backward, written in the tile DSL (the wrapper is stdlib/attention.py).

Every kernel sees 4-D [batch, heads, rows, head_dim] tensors. Dense calls pass the SDPA layout as
it is; packed variable-length calls pass [total, heads, head_dim] tensors as [1, heads, total,
head_dim] views (a permute, no copy) and `varlen=True`: sequence `b` then owns rows
`cu_q[b] .. cu_q[b+1]-1` (queries) and `cu_k[b] .. cu_k[b+1]-1` (keys) of batch entry 0.

Sizes the launch grid needs but no real tensor has (the longest sequence of a packed batch) come
from a shape carrier: a stride-0 `expand`ed tensor of shape [sequences, longest], never read.

Accumulation happens in `lse.dtype` (f32; f64 for f64 inputs, which gradcheck uses), with
exponentials in base 2 (the scale is folded with log2(e) once); `lse` holds the natural log-sum-exp
of each query row's scaled scores, +inf for a row that sees no key (its output and gradients are 0).

Causal masks are bottom-right aligned, as in FlashAttention: query i (of sq) sees key j (of sk)
when j <= i + sk - sq. Key blocks past a query block's last visible key are never visited (the
key loop's upper bound is a runtime value), nor are query blocks before a key block's first
visible query in the dk/dv kernel.
"""

from __future__ import annotations

import tilelang as tl

LOG2E = 1.4426950408889634


@tl.func
def sequence_bounds(cu_q, cu_k, b, TQ, TK, varlen):
    """(first query row, query count, first key row, key count, batch entry) of sequence `b`."""
    if varlen:
        qs = cu_q[b.start]
        ks = cu_k[b.start]
        sq = cu_q[b.start + 1] - qs
        sk = cu_k[b.start + 1] - ks
        entry = 0
    else:
        qs = 0
        ks = 0
        sq = TQ
        sk = TK
        entry = b.id
    return qs, sq, ks, sk, entry


@tl.func
def load_rows(x, entry, head, m, rows, row_ok, varlen):
    """Query-side rows of the tile `m`: a plain tile load for dense calls (the tensor's own edge
    masks it), a masked gather of rows qs + m.index for packed ones."""
    if varlen:
        t = tl.load(x[entry, head, rows, :], mask=row_ok[:, None])
    else:
        t = x[entry, head, m, :]
    return t


@tl.func
def store_rows(x, entry, head, m, rows, row_ok, value, varlen):
    if varlen:
        tl.store(x[entry, head, rows, :], value, mask=row_ok[:, None])
    else:
        x[entry, head, m, :] = value


@tl.func
def load_stat(x, entry, head, m, rows, row_ok, fill, varlen):
    """Per-row statistics (lse, delta: [batch, heads, rows]) of the tile `m`, `fill` past the end."""
    if varlen:
        t = tl.load(x[entry, head, rows], mask=row_ok, other=fill)
    else:
        t = tl.load(x[entry, head, m], other=fill)
    return t


@tl.func
def store_stat(x, entry, head, m, rows, row_ok, value, varlen):
    if varlen:
        tl.store(x[entry, head, rows], value, mask=row_ok)
    else:
        x[entry, head, m] = value


@tl.func
def diagonal(causal, sq, sk):
    """Query i sees keys j <= i + diagonal: sk - sq under the bottom-right causal mask, and sk (every
    key) without one. `causal` is a runtime flag, so one compiled kernel serves both."""
    return tl.where(causal, sk - sq, sk)


@tl.func
def visible_keys(m, sq, sk, diag):
    """How many keys (from the sequence's first) the query tile `m` needs: causal tiles stop at
    their last row's diagonal; 0 for a tile past the sequence's end (padded programs of short
    sequences do no work)."""
    hi = tl.minimum(sk, m.start + m.size + diag)
    return tl.where(m.start < sq, hi, 0)


@tl.func
def score_mask(qpos, kpos, sq, kend, diag):
    """Which (query, key) pairs are real and visible: query positions `qpos` and key positions
    `kpos` count from their sequence's first row; keys at or past `kend` are not visited."""
    return (qpos[:, None] < sq) & (kpos[None, :] < kend) & (kpos[None, :] <= qpos[:, None] + diag)


@tl.tile(constants=("varlen",))
def flash_fwd_kernel(q, k, v, o, lse, cu_q, cu_k, grid_q, scale, causal, varlen):
    """o = softmax(scale * q k^T (masked)) v per (sequence, head, query tile); lse saved."""
    BQ, H, TQ, D = q.shape
    BK, HK, TK, D = k.shape
    BK, HK, TK, DV = v.shape
    BQ, H, TQ, DV = o.shape
    BQ, H, TQ = lse.shape
    NB, MQ = grid_q.shape
    for b, h, m in tl.tile([NB, H, MQ], block=[1, 1, None]):
        qs, sq, ks, sk, bq = sequence_bounds(cu_q, cu_k, b, TQ, TK, varlen)
        kvh = h.id // (H // HK)  # grouped-query attention: the kv head of this q head's group
        rows = qs + m.index
        row_ok = m.index < sq
        qt = load_rows(q, bq, h.id, m, rows, row_ok, varlen)
        m_i = tl.full([m], float("-inf"), lse.dtype)
        l_i = tl.zeros([m], lse.dtype)
        acc = tl.zeros([m, DV], lse.dtype)
        diag = diagonal(causal, sq, sk)
        hi = visible_keys(m, sq, sk, diag)
        for n in tl.tile(ks, ks + hi):
            s = (qt @ k[bq, kvh, n, :].T).to(lse.dtype) * (scale * LOG2E)
            s = tl.where(score_mask(m.index, n.index - ks, sq, hi, diag), s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            # a row with no visible key so far keeps m = -inf: shift by 0 instead (exp2(-inf) = 0, no NaN)
            m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
            alpha = tl.exp2(m_i - m_safe)
            p = tl.exp2(s - m_safe[:, None])
            l_i = l_i * alpha + tl.sum(p, axis=1)
            acc = acc * alpha[:, None] + (p.to(v.dtype) @ v[bq, kvh, n, :]).to(lse.dtype)
            m_i = m_new
        seen = l_i > 0
        l_safe = tl.where(seen, l_i, 1.0)
        store_rows(o, bq, h.id, m, rows, row_ok, tl.where(seen[:, None], acc / l_safe[:, None], 0.0).to(o.dtype),
                   varlen)
        store_stat(lse, bq, h.id, m, rows, row_ok, tl.where(seen, (m_i + tl.log2(l_safe)) / LOG2E, float("inf")), varlen)


@tl.tile(constants=("varlen",))
def flash_bwd_preprocess_kernel(o, do, delta, cu_q, grid_q, varlen):
    """delta = rowsum(dO * O) per query row (FlashAttention-2's D), in delta.dtype."""
    BQ, H, TQ, DV = o.shape
    BQ, H, TQ, DV = do.shape
    BQ, H, TQ = delta.shape
    NB, MQ = grid_q.shape
    for b, h, m in tl.tile([NB, H, MQ], block=[1, 1, None]):
        qs, sq, ks, sk, bq = sequence_bounds(cu_q, cu_q, b, TQ, TQ, varlen)
        rows = qs + m.index
        row_ok = m.index < sq
        prod = load_rows(o, bq, h.id, m, rows, row_ok, varlen).to(delta.dtype) * \
            load_rows(do, bq, h.id, m, rows, row_ok, varlen).to(delta.dtype)
        store_stat(delta, bq, h.id, m, rows, row_ok, tl.sum(prod, axis=1), varlen)


@tl.tile(constants=("varlen",))
def flash_bwd_dkdv_kernel(q, k, v, do, lse, delta, dk, dv, cu_q, cu_k, grid_k, scale, causal, varlen):
    """dk, dv per (sequence, kv head, key tile): a loop over the q heads of the kv head's group and,
    inside, over the query tiles that see the key tile. The group's sum stays in one program, so
    grouped-query attention needs no atomics."""
    BQ, H, TQ, D = q.shape
    BQ, H, TQ, DV = do.shape
    BK, HK, TK, D = k.shape
    BK, HK, TK, DV = v.shape
    BK, HK, TK, D = dk.shape
    BK, HK, TK, DV = dv.shape
    BQ, H, TQ = lse.shape
    BQ, H, TQ = delta.shape
    NB, MK = grid_k.shape
    for b, hk, n in tl.tile([NB, HK, MK], block=[1, 1, None]):
        qs, sq, ks, sk, bq = sequence_bounds(cu_q, cu_k, b, TQ, TK, varlen)
        cols = ks + n.index
        col_ok = n.index < sk
        kt = load_rows(k, bq, hk.id, n, cols, col_ok, varlen)
        vt = load_rows(v, bq, hk.id, n, cols, col_ok, varlen)
        dk_acc = tl.zeros([n, D], lse.dtype)
        dv_acc = tl.zeros([n, DV], lse.dtype)
        diag = diagonal(causal, sq, sk)
        first = tl.maximum(n.start - diag, 0)  # the first query that sees key n.start
        last = tl.where(n.start < sk, sq, 0)  # key tiles past the sequence's end do nothing
        group = H // HK
        for g in tl.tile(hk.id * group, hk.id * group + group, block=1):
            for m in tl.tile(qs + first, qs + last):
                qt = q[bq, g.start, m, :]
                dot = do[bq, g.start, m, :]
                s = (qt @ kt.T).to(lse.dtype) * (scale * LOG2E)
                keep = score_mask(m.index - qs, n.index, sq, sk, diag)
                lse2 = tl.load(lse[bq, g.start, m], other=float("inf")) * LOG2E
                p = tl.where(keep, tl.exp2(s - lse2[:, None]), 0.0)
                dv_acc += (p.to(do.dtype).T @ dot).to(lse.dtype)
                dp = (dot @ vt.T).to(lse.dtype)
                ds = p * (dp - delta[bq, g.start, m][:, None])
                dk_acc += (ds.to(q.dtype).T @ qt).to(lse.dtype)
        store_rows(dk, bq, hk.id, n, cols, col_ok, (dk_acc * scale).to(dk.dtype), varlen)
        store_rows(dv, bq, hk.id, n, cols, col_ok, dv_acc.to(dv.dtype), varlen)


@tl.tile(constants=("varlen",))
def flash_bwd_dq_kernel(q, k, v, do, lse, delta, dq, cu_q, cu_k, grid_q, scale, causal, varlen):
    """dq per (sequence, head, query tile): the key loop of the forward, recomputing p from lse."""
    BQ, H, TQ, D = q.shape
    BQ, H, TQ, DV = do.shape
    BQ, H, TQ, D = dq.shape
    BK, HK, TK, D = k.shape
    BK, HK, TK, DV = v.shape
    BQ, H, TQ = lse.shape
    BQ, H, TQ = delta.shape
    NB, MQ = grid_q.shape
    for b, h, m in tl.tile([NB, H, MQ], block=[1, 1, None]):
        qs, sq, ks, sk, bq = sequence_bounds(cu_q, cu_k, b, TQ, TK, varlen)
        kvh = h.id // (H // HK)
        rows = qs + m.index
        row_ok = m.index < sq
        qt = load_rows(q, bq, h.id, m, rows, row_ok, varlen)
        dot = load_rows(do, bq, h.id, m, rows, row_ok, varlen)
        lse2 = load_stat(lse, bq, h.id, m, rows, row_ok, float("inf"), varlen) * LOG2E
        dlt = load_stat(delta, bq, h.id, m, rows, row_ok, 0.0, varlen)
        dq_acc = tl.zeros([m, D], lse.dtype)
        diag = diagonal(causal, sq, sk)
        hi = visible_keys(m, sq, sk, diag)
        for n in tl.tile(ks, ks + hi):
            kt = k[bq, kvh, n, :]
            s = (qt @ kt.T).to(lse.dtype) * (scale * LOG2E)
            p = tl.where(score_mask(m.index, n.index - ks, sq, hi, diag), tl.exp2(s - lse2[:, None]), 0.0)
            dp = (dot @ v[bq, kvh, n, :].T).to(lse.dtype)
            ds = p * (dp - dlt[:, None])
            dq_acc += (ds.to(q.dtype) @ kt).to(lse.dtype)
        store_rows(dq, bq, h.id, m, rows, row_ok, (dq_acc * scale).to(dq.dtype), varlen)
