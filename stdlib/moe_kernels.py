"""The tile kernels of the MoE layer (stdlib/moe.py) and of grouped_matmul, one step each.

Routing state lives in dense [T, E] matrices (token x expert), which keeps every step a plain tile
program with no host round trip: `sel[t, e]` is 1 where token t goes to expert e, `wmat[t, e]` the
weight it would carry there. Expert rows are laid out expert after expert, tokens in increasing
order within an expert ("sorted by expert"); each expert's rows are cut into tiles of BM rows, and a
tile map (tile -> expert, first row, end row) lets one launch of a grouped GEMM cover all experts.
Nothing here uses atomics: counts come from per-expert scans and every output element has one
writer, so every run gives the same bits.
"""

from __future__ import annotations

import tilelang as tl

# ---- routing ----------------------------------------------------------------------------------------


@tl.tile(constants=("top_k",))
def moe_route_kernel(logits, wmat, sel, top_k):
    """softmax over experts, the top_k largest probabilities (ties: lower expert first), renormalized.

    wmat[t, e] = p[t, e] / (sum of token t's top_k probabilities) for EVERY expert e, so the routed
    entries are the renormalized top-k weights and the others the same probabilities on that scale
    (token rounding may add such pairs); sel[t, e] = 1 for the top_k chosen experts, else 0.
    """
    T, E = logits.shape
    T, E = wmat.shape
    T, E = sel.shape
    for t, e in tl.tile([T, E], block=[None, E]):
        z = tl.load(logits[t, e], other=float("-inf")).to(tl.float32)
        z = tl.where(z == z, z, float("-inf"))  # a NaN logit never wins
        zmax = tl.max(z, axis=1)
        p = tl.exp(z - tl.where(zmax > float("-inf"), zmax, 0.0)[:, None])
        psum = tl.sum(p, axis=1)
        p = p / tl.where(psum > 0, psum, 1.0)[:, None]  # a row of -inf: all zero, its token gets no weight
        left = tl.where((e.index < E)[None, :], p, -1.0)  # padded lanes (Triton) are never chosen
        chosen = e.index[None, :] < 0
        total = tl.zeros([t], tl.float32)
        for i in tl.static_range(top_k):  # top-k as k argmax passes: any k, on every backend
            best = tl.argmax(left, axis=1)
            total += tl.max(left, axis=1)
            hit = e.index[None, :] == best[:, None]
            chosen = chosen | hit
            left = tl.where(hit, -2.0, left)
        wmat[t, e] = p / tl.where(total > 0, total, 1.0)[:, None]
        sel[t, e] = chosen.to(tl.int32)


@tl.tile
def expert_counts_kernel(sel, counts):
    """counts[e] = number of tokens routed to expert e (a column sum of sel; no atomics)."""
    T, E = sel.shape
    (E,) = counts.shape
    for e in tl.tile(E):
        acc = tl.zeros([e], tl.int32)
        for t in tl.tile(T):
            acc += tl.sum(sel[t, e], axis=0)
        counts[e] = acc


@tl.tile(constants=("BM", "mode"))
def token_rounding_kernel(wmat, sel, counts, sel_out, counts_out, BM, mode):
    """SonicMoE token rounding: change each expert's token set so its size is a multiple of BM.

    Expert e ranks every token by (routed first, then by weight, largest first; equal weights: lower
    token first) and keeps the first `target` of that ranking, target = its routed count rounded to
    a multiple of BM (mode 0 nearest with halves up, 1 up, 2 down; at most T). So rounding up adds the
    best-scoring tokens that were not routed to e, rounding down drops its lowest-weight routed
    tokens. Fewer than BM tokens change per expert: they are found by that many passes of a
    lexicographic argmax over the tokens, each pass taking the best one after the previous pick.
    """
    T, E = wmat.shape
    T, E = sel.shape
    T, E = sel_out.shape
    (E,) = counts.shape
    (E,) = counts_out.shape
    for e in tl.tile(E, block=1):
        c = counts[e.id]
        if mode == 0:
            target = (c + BM // 2) // BM * BM
        elif mode == 1:
            target = (c + BM - 1) // BM * BM
        else:
            target = c // BM * BM
        target = tl.minimum(target, T)
        add = target > c
        prev_s = float("inf")  # the last pick, in the order (score descending, tie index ascending)
        prev_u = -1
        for it in tl.tile(0, tl.abs(target - c), block=1):
            best_s = float("-inf")
            best_u = T
            for t in tl.tile(T):
                s, u, cand = _rounding_candidates(wmat, sel, t, e, add, T)
                ok = cand & ((s < prev_s) | ((s == prev_s) & (u > prev_u)))
                s_ok = tl.where(ok, s, float("-inf"))
                m = tl.max(s_ok, axis=0)
                um = tl.min(tl.where(ok & (s_ok == m), u, T), axis=0)
                take = (um < T) & ((m > best_s) | ((m == best_s) & (um < best_u)))
                best_s = tl.where(take, m, best_s)
                best_u = tl.where(take, um, best_u)
            prev_s = best_s
            prev_u = best_u
        for t in tl.tile(T):
            s, u, cand = _rounding_candidates(wmat, sel, t, e, add, T)
            picked = cand & ((s > prev_s) | ((s == prev_s) & (u <= prev_u)))
            routed = tl.load(sel[t, e.id]) != 0
            sel_out[t, e.id] = tl.where(add, routed | picked, routed & ~picked).to(tl.int32)
        counts_out[e.id] = target


@tl.func
def _rounding_candidates(wmat, sel, t, e, add, T):
    """(score, tie index, candidate?) of tokens t for expert e: adding ranks the tokens not routed
    to e by weight, largest first; dropping ranks the routed ones by weight, smallest first and,
    among equal weights, the last token first (the reverse of the keep order)."""
    w = tl.load(wmat[t, e.id], other=0.0)
    routed = tl.load(sel[t, e.id], other=0) != 0
    cand = tl.where(add, ~routed, routed) & (t.index < T)
    s = tl.where(add, w, -w)
    u = tl.where(add, t.index, T - 1 - t.index)
    return s, u, cand


# ---- layout: tile map, permutation, per-token lists ----------------------------------------------------


@tl.tile(constants=("BM",))
def tile_map_kernel(counts, tile_expert, tile_start, tile_end, BM):
    """Cut each group's rows (groups laid out one after another) into tiles of BM rows.

    Tile p belongs to group tile_expert[p] and covers rows [tile_start[p], tile_end[p]); tiles past
    the last group's are empty (start == end == 0, group 0), so the grid may be sized from an upper
    bound without reading the counts on the host.
    """
    (G,) = counts.shape
    (NT,) = tile_expert.shape
    for p in tl.tile(NT):
        expert = tl.zeros([p], tl.int32)
        start = tl.zeros([p], tl.int32)
        end = tl.zeros([p], tl.int32)
        tiles_before = 0
        rows_before = 0
        for g in tl.tile(G):
            c = tl.load(counts[g], other=0)
            ntiles = (c + BM - 1) // BM
            first_tile = tiles_before + tl.cumsum(ntiles, axis=0) - ntiles
            first_row = rows_before + tl.cumsum(c, axis=0) - c
            local = p.index[:, None] - first_tile[None, :]
            hit = (local >= 0) & (local < ntiles[None, :]) & (g.index < G)[None, :]
            row0 = first_row[None, :] + local * BM
            row1 = tl.minimum(row0 + BM, (first_row + c)[None, :])
            expert += tl.sum(tl.where(hit, g.index[None, :], 0), axis=1)
            start += tl.sum(tl.where(hit, row0, 0), axis=1)
            end += tl.sum(tl.where(hit, row1, 0), axis=1)
            tiles_before += tl.sum(ntiles, axis=0)
            rows_before += tl.sum(c, axis=0)
        tile_expert[p] = expert
        tile_start[p] = start
        tile_end[p] = end


@tl.tile
def permute_kernel(sel, counts, row_token, pair_row):
    """Sort the (token, expert) pairs by expert, tokens in increasing order within an expert.

    row_token[r] = the token of row r; pair_row[t, e] = the row of pair (t, e), -1 where t does not
    go to e. One program per expert scans its column of sel (a running count plus a cumsum per tile).
    """
    T, E = sel.shape
    (E,) = counts.shape
    (P,) = row_token.shape
    T, E = pair_row.shape
    for e in tl.tile(E, block=1):
        first = 0  # rows of the experts before e
        for f in tl.tile(E):
            first += tl.sum(tl.where(f.index < e.start, tl.load(counts[f], other=0), 0), axis=0)
        seen = 0
        for t in tl.tile(T):
            s = tl.load(sel[t, e.id], other=0)
            row = first + seen + tl.cumsum(s, axis=0) - s
            tl.store(row_token[row], t.index, mask=(s != 0) & (t.index < T))
            pair_row[t, e.id] = tl.where(s != 0, row, -1)
            seen += tl.sum(s, axis=0)


@tl.tile
def token_lists_kernel(sel, pair_row, wmat, tok_rows, tok_w, tok_count):
    """Each token's rows and weights, in increasing expert order, compacted to the front of its slots.

    tok_rows / tok_w are [T * E] (token t's slots t*E .. t*E + E-1); tok_count[t] how many are used.
    """
    T, E = sel.shape
    T, E = pair_row.shape
    T, E = wmat.shape
    (TE,) = tok_rows.shape
    (TE,) = tok_w.shape
    (T,) = tok_count.shape
    for t, e in tl.tile([T, E], block=[None, E]):
        s = tl.load(sel[t, e], other=0)
        slot = t.index[:, None] * E + tl.cumsum(s, axis=1) - 1
        keep = (s != 0) & (t.index < T)[:, None] & (e.index < E)[None, :]
        tl.store(tok_rows[slot], pair_row[t, e], mask=keep)
        tl.store(tok_w[slot], wmat[t, e], mask=keep)
        tok_count[t] = tl.sum(s, axis=1)


# ---- grouped GEMMs and the combine --------------------------------------------------------------------


@tl.tile(constants=("BM",))
def grouped_gemm_kernel(a, b, tile_expert, tile_start, tile_end, out, BM):
    """out[r] = a[r] @ b[g] for the rows r of each group g (rows grouped contiguously), one launch."""
    P, K = a.shape
    G, K, N = b.shape
    P, N = out.shape
    (NT,) = tile_expert.shape
    for p, n in tl.tile([NT, N], block=[1, None]):
        g = tile_expert[p.id]
        lo = tile_start[p.id]
        hi = tile_end[p.id]
        for r in tl.tile(lo, hi, block=BM):  # one tile: hi - lo <= BM
            acc = tl.zeros([r, n], tl.float32)
            for k in tl.tile(K):
                acc += a[r, k] @ b[g, k, n]
            out[r, n] = acc.to(out.dtype)


@tl.tile(constants=("BM",))
def gate_up_swiglu_kernel(x, row_token, w_gate, w_up, tile_expert, tile_start, tile_end, act, BM):
    """act[r] = silu(x[tok] @ w_gate[e]) * (x[tok] @ w_up[e]), tok = row_token[r]: gathered rows."""
    T, H = x.shape
    E, H, I = w_gate.shape
    E, H, I = w_up.shape
    (P,) = row_token.shape
    P, I = act.shape
    (NT,) = tile_expert.shape
    for p, n in tl.tile([NT, I], block=[1, None]):
        e = tile_expert[p.id]
        lo = tile_start[p.id]
        hi = tile_end[p.id]
        for r in tl.tile(lo, hi, block=BM):
            tok = tl.load(row_token[r], other=0)
            real = (r.index < hi)[:, None]
            gate = tl.zeros([r, n], tl.float32)
            up = tl.zeros([r, n], tl.float32)
            for k in tl.tile(H):
                xr = tl.load(x[tok, k], mask=real)
                gate += xr @ w_gate[e, k, n]
                up += xr @ w_up[e, k, n]
            act[r, n] = (gate * tl.sigmoid(gate) * up).to(act.dtype)


@tl.tile
def max_count_kernel(tok_count, most):
    """most[0] = the largest tok_count: how many slots the combine visits."""
    (T,) = tok_count.shape
    (O,) = most.shape
    for o in tl.tile(O, block=1):
        m = 0
        for t in tl.tile(T):
            m = tl.maximum(m, tl.max(tl.load(tok_count[t], other=0), axis=0))
        most[o.id] = m


@tl.tile
def combine_kernel(y, tok_rows, tok_w, tok_count, most, out):
    """out[t] = sum over token t's rows (increasing expert order) of weight * y[row], in f32.

    tok_rows / tok_w: [T, S], the first tok_count[t] slots used; most[0] the largest count. Each
    output element is one f32 sum taken slot after slot (no tree reduction, one writer): the same
    bits on every run, whatever the tile sizes."""
    P, H = y.shape
    T, S = tok_rows.shape
    T, S = tok_w.shape
    (T,) = tok_count.shape
    (O,) = most.shape
    T, H = out.shape
    for t, h in tl.tile([T, H]):
        used = tl.load(tok_count[t], other=0)
        acc = tl.zeros([t, h], tl.float32)
        for j in tl.tile(0, most[0], block=1):
            live = j.start < used
            rows = tl.load(tok_rows[t, j.start], mask=live, other=0)
            w = tl.load(tok_w[t, j.start], mask=live, other=0.0)
            v = tl.load(y[rows, h], mask=live[:, None]).to(tl.float32)
            acc += v * w[:, None]
        out[t, h] = acc.to(out.dtype)
