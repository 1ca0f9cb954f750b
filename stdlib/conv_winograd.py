"""Winograd F(m, 3) convolution as one fused DSL kernel, with searched, exactly verified points.

One program computes a block of BLOCK_T output tiles (m x m pixels each) for BLOCK_K output
channels, and nothing but the input and the output touches global memory:

1. for each block of BLOCK_C input channels (channel-last input, so a tile row is contiguous):
   gather the (m+2) x (m+2) input windows of its tiles, d: [alpha, alpha, BT, BC];
2. input transform in registers, separably (2 alpha^3 multiply-adds per window, not the alpha^4
   of the Kronecker form): W = B^T d along the first window axis (one 2-D `@` with
   d as [alpha, alpha*BT*BC]), then V = W B along the second (a batched `@`, the batch being the
   first axis);
3. the per-point GEMMs over channels: acc[p] += V[p] @ U[p, c-block, k-block] for all alpha^2
   points p at once (a batched `@`, f32 accumulation; V is rounded to the input dtype first, so
   f16 inputs take the f16 x f16 -> f32 tensor-core path on a GPU);
4. after the channel loop, the output transform Y = A^T acc A the same separable way, scattered
   into the NCHW output with edge masks.

U (the transformed filters, [alpha^2, C, K]) comes from a small DSL kernel first; filters are
tiny next to activations. The transform matrices come from tilelang.passes.winograd
(`best_transform(m, 3, objective)`: searched points, rebuilt and verified exactly).

Triton needs power-of-two tile shapes, so there alpha and m are padded to the next power of two
(AP, MP) with zero rows and columns in B^T, A^T and U: padded points contribute exact zeros.
The reference and cpu backends run the exact sizes.
"""

from __future__ import annotations

import functools

import tilelang as tl


@tl.tile
def winograd_filter_kernel(w, kg_t, u):
    """u[p, c, k] = sum_r w[k, c, r] * kg_t[r, p]: transformed 3x3 filters (w: [K, C, 9], kg_t = kron(G, G)^T)."""
    K, C, R = w.shape
    R, A2 = kg_t.shape
    A2, C, K = u.shape
    for a, c, k in tl.tile([A2, C, K], block=[None, 1, None]):
        acc = tl.zeros([k, a], tl.float32)
        for r in tl.tile(R):
            acc += w[k, c.start, r].to(tl.float32) @ kg_t[r, a]
        u[a, c.start, k] = acc.T.to(u.dtype)


@tl.tile(constants=("AP", "MP"))
def winograd_fused_kernel(x, origin, u, bt, at, y, H, W, Ho, Wo, m, pad, AP, MP):
    """x: [N*H*W, C] channel-last input rows; origin: [T, 3] (n, first output row, first output
    column) of each output tile; u: [AP*AP, C, K] transformed filters; bt: [AP*AP] B^T and
    at: [MP*AP] A^T, row-major and zero-padded; y: the NCHW output, flattened."""
    NHW, C = x.shape
    T, ORIGIN = origin.shape
    A2, C, K = u.shape
    (NKHW,) = y.shape
    for t, k in tl.tile([T, K]):
        n = origin[t, 0]
        oh0 = origin[t, 1]
        ow0 = origin[t, 2]
        i = tl.arange(0, AP)
        # input rows of every tile's window: [AP (window row), AP (window column), BT]
        h = oh0[None, None, :] - pad + i[:, None, None]
        ww = ow0[None, None, :] - pad + i[None, :, None]
        inside = (h >= 0) & (h < H) & (ww >= 0) & (ww < W) & (t.index < T)[None, None, :]
        inside = inside & (i < m + 2)[:, None, None] & (i < m + 2)[None, :, None]
        rows = (n[None, None, :] * H + h) * W + ww
        b_t = bt[i[:, None] * AP + i[None, :]]                      # [AP, AP]: B^T
        b_t3 = tl.broadcast_to(b_t[None, :, :], [AP, AP, AP])
        acc = tl.zeros([AP * AP, t, k], tl.float32)
        for c in tl.tile(C):
            d = tl.load(x[rows, c], mask=inside[:, :, :, None], other=0).to(tl.float32)
            w1 = b_t @ d.reshape([AP, AP * t.size * c.size])       # B^T along the window rows
            v = b_t3 @ w1.reshape([AP, AP, t.size * c.size])        # ... and along the columns
            # u[:, c, k] is a plain tile load; its whole first axis is A2 == AP*AP, said by the reshape
            acc += v.reshape([AP * AP, t, c]).to(x.dtype) @ u[:, c, k].reshape([AP * AP, c, k])
        o = tl.arange(0, MP)
        a_t = at[o[:, None] * AP + i[None, :]]                      # [MP, AP]: A^T
        a_t3 = tl.broadcast_to(a_t[None, :, :], [MP, MP, AP])
        z = a_t @ acc.reshape([AP, AP * t.size * k.size])
        out = (a_t3 @ z.reshape([MP, AP, t.size * k.size])).reshape([MP, MP, t, k])
        oh = oh0[None, None, :] + o[:, None, None]
        ow = ow0[None, None, :] + o[None, :, None]
        ok = (oh < Ho) & (ow < Wo) & (o < m)[:, None, None] & (o < m)[None, :, None] & (t.index < T)[None, None, :]
        at_pixel = ((n[None, None, :, None] * K + k.index[None, None, None, :]) * Ho + oh[:, :, :, None]) * Wo \
            + ow[:, :, :, None]
        tl.store(y[at_pixel], out.to(y.dtype), mask=ok[:, :, :, None] & (k.index < K)[None, None, None, :])


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def padded_sizes(m: int, backend: str | None) -> tuple[int, int]:
    """(AP, MP): alpha = m + 2 and m, padded to powers of two for Triton (its tiles must be)."""
    if backend == "triton":
        return _pow2(m + 2), _pow2(m)
    return m + 2, m


@functools.lru_cache(maxsize=64)
def _matrices(m: int, objective: str, AP: int, MP: int):
    import torch

    from tilelang.passes.winograd import best_transform

    t = best_transform(m, 3, objective)
    AT, G, BT = (torch.tensor(a, dtype=torch.float64) for a in t.as_numpy("float64"))
    alpha = m + 2
    bt = torch.zeros(AP, AP, dtype=torch.float64)
    bt[:alpha, :alpha] = BT
    at = torch.zeros(MP, AP, dtype=torch.float64)
    at[:m, :alpha] = AT
    g = torch.zeros(AP, 3, dtype=torch.float64)
    g[:alpha] = G
    kg_t = torch.kron(g, g).T  # [9, AP*AP]: point p = a*AP + b of G g G^T
    return tuple(v.to(torch.float32).contiguous() for v in (kg_t, bt.flatten(), at.flatten())), t


def winograd_matrices(m: int, objective: str, device, AP: int | None = None, MP: int | None = None):
    """(kg_t, bt, at) as f32 tensors on `device` (kron(G, G)^T, B^T and A^T flattened, zero-padded to
    AP x AP points and MP outputs), and the exact WinogradTransform they come from."""
    mats, t = _matrices(m, objective, AP or m + 2, MP or m)
    return tuple(v.to(device) for v in mats), t


@functools.lru_cache(maxsize=64)
def _origins(N: int, TH: int, TW: int, m: int):
    import torch

    n, th, tw = torch.meshgrid(torch.arange(N), torch.arange(TH), torch.arange(TW), indexing="ij")
    return torch.stack([n.flatten(), th.flatten() * m, tw.flatten() * m], 1).to(torch.int32).contiguous()


def winograd_conv(x_rows, w, y, shape, padding: int, m: int, objective: str, config, backend, alloc):
    """y (NCHW, contiguous) = conv of the channel-last rows `x_rows` ([N*H*W, C]) with 3x3 filters w."""
    N, C, H, W = shape
    K = w.shape[0]
    Ho, Wo = y.shape[2:]
    AP, MP = padded_sizes(m, backend)
    (kg_t, bt, at), _ = winograd_matrices(m, objective, x_rows.device, AP, MP)
    u = alloc((AP * AP, C, K), x_rows.dtype, x_rows.device)
    winograd_filter_kernel(w.reshape(K, C, 9), kg_t, u, backend=backend, config=_filter_config(backend))
    origin = _origins(N, -(-Ho // m), -(-Wo // m), m).to(x_rows.device)
    winograd_fused_kernel(x_rows, origin, u, bt, at, y.reshape(-1), H, W, Ho, Wo, m, padding,
                          AP, MP, backend=backend, config=config)


def _filter_config(backend):
    return tl.Config(BLOCK_A=16, BLOCK_K=64, BLOCK_R=16) if backend == "triton" else \
        tl.Config(BLOCK_A=64, BLOCK_K=64, BLOCK_R=9)
