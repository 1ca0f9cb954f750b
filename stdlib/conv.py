"""2-D convolution (NCHW in and out, cross-correlation like torch.nn.functional.conv2d) in the tile DSL.

Both algorithms read the input channel-last (NHWC): one pixel's channels are contiguous, so a
block of channels of a gathered pixel row is one contiguous load (coalesced on a GPU, vector loads
on the cpu backend). An NCHW input is converted once per call by a DSL transpose kernel (no copy
when it already is channels-last); the output is written NCHW directly by the kernels.

- direct: an implicit GEMM. Output pixels are rows, output channels columns; the reduction runs
  over the kernel taps (a sequential loop) and, per tap, over blocks of input channels:
  acc[P, K] += x_rows[pixel shifted by the tap, C] @ w[tap, C, K]. Every step is a plain 2-D
  `@` of input-dtype tiles accumulating in f32 (f16 x f16 -> f32 tensor-core MMAs through Triton
  on a GPU). Any kernel size, stride and padding.
- winograd: F(m, 3) for 3x3 stride-1 kernels as one fused kernel (stdlib/conv_winograd.py).

`algorithm="auto"` takes the tuning database's winner for the call's shape class (see
`tune_conv2d` in stdlib/conv_tune.py: algorithm, Winograd m and tiles chosen by measurement),
else Winograd F(4, 3) where it applies and the direct algorithm elsewhere.
"""

from __future__ import annotations

import tilelang as tl
from tilelang.errors import LaunchError

from .conv_winograd import winograd_conv

# ---- direct: implicit GEMM over channel-last rows --------------------------------------------------


@tl.tile
def conv2d_direct_kernel(x, w, y, H, W, Wo, KW, stride, pad):
    """x: [N*H*W, C] channel-last input rows; w: [K, C, KH*KW] (the KCRS filters as they are); y: [N, K, Ho*Wo]."""
    NHW, C = x.shape
    K, C, TAPS = w.shape
    N, K, P = y.shape
    for n, p, k in tl.tile([N, P, K], block=[1, None, None]):
        oh = p.index // Wo
        ow = p.index % Wo
        acc = tl.zeros([p, k], tl.float32)
        for q in tl.tile(TAPS, block=1):  # one kernel tap (r, s) per step
            h = oh * stride - pad + q.start // KW
            ww = ow * stride - pad + q.start % KW
            inside = (h >= 0) & (h < H) & (ww >= 0) & (ww < W) & (p.index < P)
            rows = (n.start * H + h) * W + ww
            for c in tl.tile(C):
                patch = tl.load(x[rows, c], mask=inside[:, None], other=0)
                acc += patch @ w[k, c, q.start].T
        y[n.start, k, p] = acc.T.to(y.dtype)


# ---- host side ------------------------------------------------------------------------------------

SUPPORTED = ("float16", "float32")
WINOGRAD_MS = (2, 4, 6)
DEFAULT_M = {"float32": 4, "float16": 4}
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
    if x.device != w.device:
        raise LaunchError(f"conv2d: x is on {x.device} but w is on {w.device}")
    if x.shape[1] != w.shape[1]:
        raise LaunchError(f"conv2d: x has {x.shape[1]} channels but w expects {w.shape[1]}")
    if 0 in tuple(x.shape) or 0 in tuple(w.shape):
        raise LaunchError(f"conv2d: empty input {tuple(x.shape)} or filters {tuple(w.shape)}")
    if type(padding) is not int or padding < 0 or type(stride) is not int or stride < 1:
        raise LaunchError(f"conv2d: padding must be an int >= 0 and stride an int >= 1, got {padding}, {stride}")
    Ho = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
    Wo = (x.shape[3] + 2 * padding - w.shape[3]) // stride + 1
    if Ho <= 0 or Wo <= 0:
        raise LaunchError(f"conv2d: a {tuple(w.shape[2:])} kernel does not fit a {tuple(x.shape[2:])} input with "
                          f"padding {padding}")
    return Ho, Wo


def winograd_applies(w, padding: int, stride: int) -> bool:
    return tuple(w.shape[2:]) == (3, 3) and stride == 1 and padding in (0, 1, 2)


def conv2d(x, w, *, padding: int = 0, stride: int = 1, algorithm: str = "auto", m: int | None = None,
           objective: str | None = None, config: tl.Config | None = None, tune: bool = False, out=None,
           backend: str | None = None):
    """torch.nn.functional.conv2d(x, w, padding=padding, stride=stride), no bias, in the tile DSL.

    algorithm: "winograd" (3x3, stride 1, padding 0-2), "direct", or "auto": the tuning database's
    winner for this shape class (measured by `tune_conv2d`, or now when `tune=True`), else
    Winograd F(4,3) where it applies and direct elsewhere. m: the Winograd output tile (2, 4 or 6);
    objective: which searched points ("cond" or "fp16"; default by dtype). config: the kernel's tiles
    (BLOCK_T/BLOCK_K/BLOCK_C for Winograd, BLOCK_P/BLOCK_K/BLOCK_C for direct). out: an optional
    contiguous NCHW output tensor.
    """
    Ho, Wo = _check(x, w, padding, stride)
    shape = (x.shape[0], w.shape[0], Ho, Wo)
    if out is not None and (tuple(out.shape) != shape or out.dtype != x.dtype or not out.is_contiguous()
                            or out.device != x.device):
        raise LaunchError(f"conv2d: out must be a contiguous {x.dtype} tensor of shape {shape} on {x.device}")
    if algorithm not in ("auto", "winograd", "direct"):
        raise LaunchError(f"conv2d: algorithm must be 'auto', 'winograd' or 'direct', got {algorithm!r}")
    if algorithm == "winograd" and not winograd_applies(w, padding, stride):
        raise LaunchError("conv2d: the Winograd algorithm here needs a 3x3 kernel, stride 1 and padding 0, 1 or 2")
    if m is not None and m not in WINOGRAD_MS:
        raise LaunchError(f"conv2d: m (the Winograd output tile) must be one of {WINOGRAD_MS}, got {m!r}")
    if objective is not None and objective not in ("cond", "fp16"):
        raise LaunchError(f"conv2d: objective must be 'cond' or 'fp16', got {objective!r}")
    dt = str(x.dtype).removeprefix("torch.")
    if algorithm == "auto" and m is None and config is None:
        from .conv_tune import choose

        algorithm, m, config = choose(x, w, padding, stride, backend, tune)
    elif algorithm == "auto":
        algorithm = "winograd" if winograd_applies(w, padding, stride) else "direct"
    y = out if out is not None else _alloc(shape, x.dtype, x.device)
    run(x, w, y, padding, stride, algorithm, m or DEFAULT_M[dt], objective or DEFAULT_OBJECTIVE[dt], config, backend)
    return y


@tl.tile
def nchw_to_rows_kernel(x, out):
    """out[n, p, c] = x[n, c, p]: NCHW (pixels flattened) to channel-last rows, a tile transpose."""
    N, C, P = x.shape
    N, P, C = out.shape
    for n, p, c in tl.tile([N, P, C], block=[1, None, None]):
        out[n.start, p, c] = x[n.start, c, p].T


def channel_last_rows(x, backend=None):
    """x (NCHW) as [N*H*W, C] channel-last rows: a view when x is channels-last already, else a copy
    made by a DSL transpose (torch's own `contiguous(memory_format=torch.channels_last)` took 24 ms
    against 0.6-0.9 ms for this kernel at 4x64x56x56 f32 on the 2-core development machine)."""
    N, C, H, W = x.shape
    nhwc = x.permute(0, 2, 3, 1)
    if nhwc.is_contiguous():
        return nhwc.reshape(N * H * W, C)
    rows = _alloc((N, H * W, C), x.dtype, x.device)
    cfg = tl.Config(BLOCK_P=64, BLOCK_C=32) if backend == "triton" or x.device.type == "cuda" else \
        tl.Config(BLOCK_P=256, BLOCK_C=16)
    nchw_to_rows_kernel(x.reshape(N, C, H * W), rows, backend=backend, config=cfg)
    return rows.reshape(N * H * W, C)


def run(x, w, y, padding, stride, algorithm, m, objective, config, backend):
    """One convolution with everything chosen: y (NCHW, contiguous) = conv(x, w)."""
    rows = channel_last_rows(x, backend)
    on_gpu = x.device.type == "cuda"
    if algorithm == "winograd":
        winograd_conv(rows, w, y, tuple(x.shape), padding, m, objective,
                      config or default_config("winograd", backend, on_gpu), backend, _alloc)
        return
    N, C, H, W = x.shape
    K, _, KH, KW = w.shape
    conv2d_direct_kernel(rows, w.reshape(K, C, KH * KW), y.reshape(N, K, -1), H, W, y.shape[3], KW, stride, padding,
                         backend=backend, config=config or default_config("direct", backend, on_gpu))


def default_config(algorithm: str, backend: str | None, on_gpu: bool) -> tl.Config:
    """Tiles when the tuning database has none (measured on the cpu backend; GPU ones untested)."""
    if on_gpu:
        if algorithm == "winograd":
            return tl.Config(BLOCK_T=32, BLOCK_K=64, BLOCK_C=32, num_warps=4, num_stages=2)
        return tl.Config(BLOCK_P=128, BLOCK_K=64, BLOCK_C=32, num_warps=4, num_stages=3)
    if backend not in (None, "cpu"):  # interpreters and simulators: small tiles (and shared memory) fit
        return tl.Config(BLOCK_T=16, BLOCK_K=16, BLOCK_C=16) if algorithm == "winograd" else \
            tl.Config(BLOCK_P=32, BLOCK_K=16, BLOCK_C=16)
    if algorithm == "winograd":
        return tl.Config(BLOCK_T=32, BLOCK_K=64, BLOCK_C=32)
    return tl.Config(BLOCK_P=64, BLOCK_K=64, BLOCK_C=64)
