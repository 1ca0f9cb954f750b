"""Kernels using control flow and structure (if, tl.static_range, tl.tile(lo, hi), @tl.func, arange,
reshape, slices); tests/test_control_flow.py checks each against torch in float64."""

import tilelang as tl

# A Python global read at compile time: the frontend lowers only the branch it selects.
USE_SQUARE = True


@tl.tile
def unrolled_poly(x, out):
    """out = sum_{i<3} (i+1) * x^(i+1) (+ x*x if the tile is wide), unrolled and chosen at compile time."""
    (N,) = x.shape
    for n in tl.tile(N):
        v = x[n]
        acc = tl.zeros([n], tl.float32)
        p = v
        for i in tl.static_range(3):
            acc += (i + 1) * p
            p = p * v
        if n.size >= 32 and not (USE_SQUARE and n.size > 64):  # decided by the Config (BLOCK_N is known)
            acc = acc + 100.0
        if USE_SQUARE:
            acc = acc + v * v
        else:
            acc = acc + tl.log(v)  # never lowered: log of negative inputs would be NaN
        out[n] = acc


@tl.tile
def scalar_branches(x, flags, out, mode):
    """Runtime `if` on a scalar parameter, on a value loaded from a tensor and on a size comparison."""
    M, N = x.shape
    (R,) = flags.shape
    for m, n in tl.tile([M, N]):
        v = x[m, n]
        if mode > 0:
            y = v * 2.0
            z = 1.0
        else:
            y = v - 1.0
            z = -1.0
        f = flags[m.id % R]
        if f != 0 or (mode > 5 and not N > 0):  # the right side is never true: checks `or`/`and`/`not`
            y = y + z
        if N > 40:
            y = y * 0.5
        out[m, n] = y


@tl.tile
def branch_in_loop(x, out, thresh):
    """A runtime `if` inside a sequential loop updating a loop-carried accumulator."""
    M, K = x.shape
    for m in tl.tile(M):
        acc = tl.zeros([m], tl.float32)
        for k in tl.tile(K):
            part = tl.sum(x[m, k], axis=1)
            if k.id < thresh:
                acc = acc + part
            else:
                acc = acc - part
        out[m] = acc


@tl.tile
def varlen_mean(x, cu_seqlens, out):
    """out[b, :] = mean of rows cu_seqlens[b] .. cu_seqlens[b+1]-1 of x (0 for an empty sequence)."""
    T, D = x.shape
    (B1,) = cu_seqlens.shape
    B, D = out.shape
    for b, d in tl.tile([B, D], block=[1, None]):
        start = cu_seqlens[b.start]
        end = cu_seqlens[b.start + 1]
        acc = tl.zeros([d], tl.float32)
        for t in tl.tile(start, end):
            acc += tl.sum(x[t, d].to(tl.float32), axis=0)
        count = end - start
        if count > 0:
            acc = acc / count.to(tl.float32)
        out[b, d] = acc[None, :].to(out.dtype)


@tl.func
def online_softmax_step(m_i, l_i, acc, s, v):
    """One key block of flash attention: returns the updated running max, sum and output."""
    m_new = tl.maximum(m_i, tl.max(s, axis=1))
    alpha = tl.exp(m_i - m_new)
    p = tl.exp(s - m_new[:, None])
    l_i = l_i * alpha + tl.sum(p, axis=1)
    acc = acc * alpha[:, None] + p @ v
    return m_new, l_i, acc


@tl.tile
def causal_attention(q, k, v, out, scale):
    """Causal attention over [S, D] (one head); key blocks past the query block are never visited:
    the key loop's upper bound is the query tile's end, a runtime value."""
    S, D = q.shape
    S, D = k.shape
    for m in tl.tile(S):
        qt = q[m, tl.arange(0, 16)].to(tl.float32)  # head dim 16
        m_i = tl.full([m], float("-inf"), tl.float32)
        l_i = tl.zeros([m], tl.float32)
        acc = tl.zeros([m, 16], tl.float32)
        for n in tl.tile(0, m.start + m.size):
            kt = k[n, tl.arange(0, 16)].to(tl.float32)
            s = (qt @ kt.T) * scale
            keep = m.index[:, None] >= n.index[None, :]
            s = tl.where(keep, s, float("-inf"))
            m_i, l_i, acc = online_softmax_step(m_i, l_i, acc, s, v[n, tl.arange(0, 16)].to(tl.float32))
        out[m, tl.arange(0, 16)] = (acc / l_i[:, None]).to(out.dtype)


@tl.func
def twice(x):
    x = x + x  # rebinding a parameter never changes the caller's variable
    return x


@tl.func
def affine(x, a, b):
    return twice(x) * a + b


@tl.func
def row_total(t, m, K):
    """A helper with its own tile loop over a tensor passed in, indexed with the caller's tile `m`."""
    acc = tl.zeros([m], tl.float32)
    for k in tl.tile(K):
        acc += tl.sum(t[m, k], axis=1)
    return acc


@tl.tile
def uses_helpers(x, out, totals):
    M, K = x.shape
    for m in tl.tile(M):
        first = x[m, 0]
        y = affine(first, 3.0, b=1.0)  # 6 * first + 1
        out[m] = y + first  # `first` is unchanged by twice()
        totals[m] = row_total(x, m, K)


@tl.tile
def shapes_kernel(x, out_s, out_r, out_a):
    """x is [M, 16]: a slice, a reshape + reduction, and a gather through tl.arange(4, 12)."""
    M, C = x.shape
    for m in tl.tile(M):
        t = x[m, tl.arange(0, 16)]
        s = t[:, 4:12]
        out_s[m, tl.arange(0, 8)] = s * 2.0
        r = tl.reshape(t, [m, 2, 8])
        out_r[m, tl.arange(0, 8)] = tl.sum(r, axis=1)
        cols = tl.arange(4, 12)
        out_a[m, tl.arange(0, 8)] = x[m, cols] + t.reshape([m, 16])[:, 0:8]


@tl.tile(constants=("lower",))
def triangle(x, out, lower):
    """`lower` is a constant parameter: each value compiles its own kernel with one branch."""
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        if lower:
            keep = m.index[:, None] >= n.index[None, :]
        else:
            keep = m.index[:, None] <= n.index[None, :]
        out[m, n] = tl.where(keep, x[m, n], 0.0)


@tl.tile
def nested_control(x, bounds, out):
    """A runtime loop inside a runtime `if`, an `elif` chain inside the loop, bounds from a tensor."""
    M, N = x.shape
    for m in tl.tile(M):
        lo = bounds[0]
        hi = bounds[1]
        acc = tl.zeros([m], tl.float32)
        if hi > lo:
            for n in tl.tile(lo, hi):
                part = tl.sum(x[m, n], axis=1)
                if n.id % 2 == 0:
                    acc += part
                elif n.id % 3 == 0:
                    acc -= part
                else:
                    acc = acc + 2.0 * part
        else:
            acc = acc - 1.0
        out[m] = acc


@tl.tile
def shape_unroll(x, out):
    """A tile's shape as sizes, and an unroll count from a Config tile size."""
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        t = x[m, n]
        rows, cols = t.shape
        acc = tl.zeros([rows, cols], tl.float32)
        for i in tl.static_range(cols // 8):
            acc = acc + t
        out[m, n] = acc


@tl.tile
def helper_loop_in_same_named_loop(x, out):
    """row_total's own `for k` loop runs inside this kernel's `for k` loop: the helper's tile is renamed."""
    M, K = x.shape
    for m in tl.tile(M):
        acc = tl.zeros([m], tl.float32)
        for k in tl.tile(K):
            acc += row_total(x, m, K) + tl.sum(x[m, k], axis=1)
        out[m] = acc


@tl.func
def bump_per_tile(x, K):
    """Reassigns its parameter in a loop: a loop-carried copy, the caller's value is unchanged."""
    for k in tl.tile(K, block=4):
        x = x + 1.0
    return x


@tl.tile
def reassigned_in_loops(a, out, steps, s):
    """A scalar parameter reassigned in a loop (stored at every iteration) and a helper doing the same."""
    M, K = a.shape
    M, T = steps.shape
    for m in tl.tile(M):
        for t in tl.tile(T, block=1):
            s = s + 1.0
            steps[m, t] = tl.zeros([m, 1], tl.float32) + s
        base = a[m, 0]
        out[m] = bump_per_tile(base, K) + base
