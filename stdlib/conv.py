"""2-D convolution (NCHW, cross-correlation like torch.nn.functional.conv2d) written in the tile DSL.

Two algorithms:
- direct: an implicit GEMM. Output pixels are rows, output channels columns, and the reduction
  runs over (input channel, kernel row, kernel column); the input patch matrix is gathered from the
  flattened input with a 2-D index tile, zero outside the padded image. Any kernel size, stride and
  padding.
- winograd: F(m, 3) for 3x3 stride-1 kernels, with interpolation points from
  tilelang.passes.winograd (searched, snapped to simple rationals, verified exactly). Four
  kernels: filter transform U = (G x G) g, input transform V = (B^T x B^T) d per tile, one batched
  GEMM per transform point over channels, and the output transform Y = (A^T x A^T) M scattered
  into the output. (x is the Kronecker product: vec(G g G^T) = (G x G) vec(g), row-major.)
"""

from __future__ import annotations

import tilelang as tl
from tilelang.errors import LaunchError

# ---- direct -------------------------------------------------------------------------------------


@tl.tile
def conv2d_direct_kernel(x, w, y, H, W, KH, KW, Wo, stride, pad):
    """x: [N, C*H*W], w: [K, C*KH*KW], y: [N, K, Ho*Wo] (contiguous views of NCHW tensors)."""
    N, CHW = x.shape
    K, CRS = w.shape
    N, K, P = y.shape
    for n, p, k in tl.tile([N, P, K], block=[1, None, None]):
        oh = p.index // Wo
        ow = p.index % Wo
        acc = tl.zeros([p, k], tl.float32)
        for q in tl.tile(CRS):
            c = q.index // (KH * KW)
            r = (q.index // KW) % KH
            s = q.index % KW
            h = oh[:, None] * stride - pad + r[None, :]
            ww = ow[:, None] * stride - pad + s[None, :]
            inside = (h >= 0) & (h < H) & (ww >= 0) & (ww < W)
            inside = inside & (p.index < P)[:, None] & (q.index < CRS)[None, :]
            patch = tl.load(x[n.id, (c[None, :] * H + h) * W + ww], mask=inside, other=0)
            acc += patch.to(tl.float32) @ w[k, q].to(tl.float32).T
        y[n.id, k, p] = acc.T.to(y.dtype)


# ---- winograd -------------------------------------------------------------------------------------


@tl.tile
def winograd_filter_kernel(g, kg_t, u):
    """u[a, c*K + k] = sum_r g[c*K + k, r] * kg_t[r, a]: transformed 3x3 filters."""
    CK, R = g.shape
    R, A2 = kg_t.shape
    A2, CK = u.shape
    for a, q in tl.tile([A2, CK]):
        acc = tl.zeros([q, a], tl.float32)
        for r in tl.tile(R):
            acc += g[q, r].to(tl.float32) @ kg_t[r, a]
        u[a, q] = acc.T.to(u.dtype)


@tl.tile
def winograd_input_kernel(x, kb_t, v, C, H, W, TH, TW, m, pad):
    """v[a, t, c] = sum_e d_t[e] * kb_t[e, a], d_t the (m+2)x(m+2) input tile t of channel c."""
    (NCHW,) = x.shape
    A2, A2 = kb_t.shape
    A2, T, C2 = v.shape
    for a, t, c in tl.tile([A2, T, C2], block=[None, None, 1]):
        n = t.index // (TH * TW)
        th = (t.index // TW) % TH
        tw = t.index % TW
        acc = tl.zeros([t, a], tl.float32)
        for e in tl.tile(A2):
            i = e.index // (m + 2)
            j = e.index % (m + 2)
            h = th[:, None] * m - pad + i[None, :]
            ww = tw[:, None] * m - pad + j[None, :]
            inside = (h >= 0) & (h < H) & (ww >= 0) & (ww < W) & (t.index < T)[:, None] & (e.index < A2)[None, :]
            d = tl.load(x[((n[:, None] * C + c.id) * H + h) * W + ww], mask=inside, other=0)
            acc += d.to(tl.float32) @ kb_t[e, a]
        v[a, t, c.id] = acc.T.to(v.dtype)


@tl.tile
def winograd_batched_gemm_kernel(v, u, mm):
    """mm[a, t, k] = sum_c v[a, t, c] * u[a, c, k], one GEMM per transform point a."""
    A2, T, C = v.shape
    A2, C, K = u.shape
    A2, T, K = mm.shape
    for a, t, k in tl.tile([A2, T, K], block=[1, None, None]):
        acc = tl.zeros([t, k], tl.float32)
        for c in tl.tile(C):
            acc += v[a.id, t, c] @ u[a.id, c, k]
        mm[a.id, t, k] = acc


@tl.tile
def winograd_output_kernel(mm, ka_t, y, TH, TW, m, Ho, Wo):
    """y[n, k, th*m + i, tw*m + j] = sum_e mm[e, t, k] * ka_t[e, i*m + j], scattered with edge masks."""
    A2, T, K = mm.shape
    A2, MM = ka_t.shape
    (NKHW,) = y.shape
    for t, o, k in tl.tile([T, MM, K], block=[None, None, 1]):
        acc = tl.zeros([t, o], tl.float32)
        for e in tl.tile(A2):
            acc += mm[e, t, k.id].T @ ka_t[e, o]
        n = t.index // (TH * TW)
        oh = ((t.index // TW) % TH)[:, None] * m + (o.index // m)[None, :]
        ow = (t.index % TW)[:, None] * m + (o.index % m)[None, :]
        inside = (oh < Ho) & (ow < Wo) & (t.index < T)[:, None] & (o.index < MM)[None, :]
        tl.store(y[((n[:, None] * K + k.id) * Ho + oh) * Wo + ow], acc.to(y.dtype), mask=inside)


# ---- host side ------------------------------------------------------------------------------------

SUPPORTED = ("float16", "float32")
DEFAULT_M = {"float32": 6, "float16": 4}  # F(6,3) needs f32 range; F(4,3) keeps f16 error low
DEFAULT_OBJECTIVE = {"float32": "cond", "float16": "fp16"}


def _alloc(shape, dtype, device):
    """Every buffer conv2d makes (tests replace this to poison them all with NaN)."""
    import torch

    return torch.empty(shape, dtype=dtype, device=device)


def _check(x, w, padding, stride):
    import torch

    for name, t, rank in (("x", x, 4), ("w", w, 4)):
        if not isinstance(t, torch.Tensor) or t.dim() != rank:
            raise LaunchError(f"conv2d: `{name}` must be a {rank}-D torch tensor (NCHW / KCRS)")
        if str(t.dtype).removeprefix("torch.") not in SUPPORTED:
            raise LaunchError(f"conv2d: `{name}` has dtype {t.dtype}; supported: {', '.join(SUPPORTED)}")
    if x.dtype != w.dtype:
        raise LaunchError(f"conv2d: x is {x.dtype} but w is {w.dtype}")
    if x.shape[1] != w.shape[1]:
        raise LaunchError(f"conv2d: x has {x.shape[1]} channels but w expects {w.shape[1]}")
    if type(padding) is not int or padding < 0 or type(stride) is not int or stride < 1:
        raise LaunchError(f"conv2d: padding must be an int >= 0 and stride an int >= 1, got {padding}, {stride}")
    Ho = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
    Wo = (x.shape[3] + 2 * padding - w.shape[3]) // stride + 1
    if Ho <= 0 or Wo <= 0:
        raise LaunchError(f"conv2d: a {tuple(w.shape[2:])} kernel does not fit a {tuple(x.shape[2:])} input with "
                          f"padding {padding}")
    return Ho, Wo


def conv2d(x, w, *, padding: int = 0, stride: int = 1, algorithm: str = "auto", m: int | None = None,
           objective: str | None = None, out=None, backend: str | None = None):
    """torch.nn.functional.conv2d(x, w, padding=padding, stride=stride), no bias, in the tile DSL.

    algorithm: "winograd" (3x3, stride 1, padding 0 or 1), "direct", or "auto" (winograd where it
    applies). m: the Winograd output tile (default: 6 for f32, 4 for f16); objective: which searched
    points to use ("cond" or "fp16"; default by dtype). out: an optional contiguous output tensor.
    """
    Ho, Wo = _check(x, w, padding, stride)
    shape = (x.shape[0], w.shape[0], Ho, Wo)
    if out is not None and (tuple(out.shape) != shape or out.dtype != x.dtype or not out.is_contiguous()):
        raise LaunchError(f"conv2d: out must be a contiguous {x.dtype} tensor of shape {shape}")
    y = out if out is not None else _alloc(shape, x.dtype, x.device)
    winograd_ok = tuple(w.shape[2:]) == (3, 3) and stride == 1 and padding in (0, 1)
    if algorithm not in ("auto", "winograd", "direct"):
        raise LaunchError(f"conv2d: algorithm must be 'auto', 'winograd' or 'direct', got {algorithm!r}")
    if algorithm == "winograd" and not winograd_ok:
        raise LaunchError("conv2d: the Winograd algorithm here needs a 3x3 kernel, stride 1 and padding 0 or 1")
    if algorithm == "direct" or not winograd_ok:
        _direct(x, w, y, padding, stride, backend)
    else:
        dt = str(x.dtype).removeprefix("torch.")
        _winograd(x, w, y, padding, m or DEFAULT_M[dt], objective or DEFAULT_OBJECTIVE[dt], backend)
    return y


def _direct(x, w, y, padding, stride, backend):
    N, C, H, W = x.shape
    K, _, KH, KW = w.shape
    Wo = y.shape[3]
    conv2d_direct_kernel(x.reshape(N, C * H * W), w.reshape(K, C * KH * KW), y.reshape(N, K, -1), H, W, KH, KW, Wo,
                         stride, padding, backend=backend)


def winograd_matrices(m: int, objective: str, device, dtype=None):
    """Kronecker-form transform matrices (transposed for the kernels) from the searched, verified points."""
    import torch

    from tilelang.passes.winograd import best_transform

    t = best_transform(m, 3, objective)
    AT, G, BT = (torch.tensor(a, dtype=torch.float64) for a in t.as_numpy("float64"))
    kg_t = torch.kron(G, G).T  # [9, alpha^2]
    kb_t = torch.kron(BT, BT).T  # [alpha^2, alpha^2]
    ka_t = torch.kron(AT, AT).T  # [alpha^2, m^2]
    return tuple(k.to(torch.float32).contiguous().to(device) for k in (kg_t, kb_t, ka_t)), t


def _winograd(x, w, y, padding, m, objective, backend):
    import torch

    N, C, H, W = x.shape
    K = w.shape[0]
    Ho, Wo = y.shape[2:]
    (kg_t, kb_t, ka_t), _ = winograd_matrices(m, objective, x.device)
    alpha2 = (m + 2) ** 2
    TH, TW = -(-Ho // m), -(-Wo // m)
    T = N * TH * TW
    g = w.permute(1, 0, 2, 3).reshape(C * K, 9)  # row c*K + k
    u = _alloc((alpha2, C * K), x.dtype, x.device)
    winograd_filter_kernel(g, kg_t, u, backend=backend)
    v = _alloc((alpha2, T, C), x.dtype, x.device)
    winograd_input_kernel(x.reshape(-1), kb_t, v, C, H, W, TH, TW, m, padding, backend=backend)
    mm = _alloc((alpha2, T, K), torch.float32, x.device)
    winograd_batched_gemm_kernel(v, u.reshape(alpha2, C, K), mm, backend=backend)
    winograd_output_kernel(mm, ka_t, y.reshape(-1), TH, TW, m, Ho, Wo, backend=backend)
