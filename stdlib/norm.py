"""Layer norm and RMS norm over the trailing dimensions, written in the tile DSL.

One program per tile of rows. Rows up to WHOLE_ROW_MAX elements are loaded whole (`x[m, :]`: read
once, a compile per row length) and take the two-pass mean and variance; longer rows are visited in
column tiles (any length compiles once), and `layer_norm_kernel` merges per-tile means and centred
sums of squares with Chan et al.'s pairwise update, as stable as the two-pass formula, then
normalizes in a second pass. Statistics and arithmetic are f32; the output has x's dtype.
"""

from __future__ import annotations

import tilelang as tl
from tilelang.errors import LaunchError

from .softmax import SUPPORTED, WHOLE_ROW_MAX, whole_row_config


@tl.tile
def layer_norm_rows_kernel(x, weight, bias, out, eps):
    """layer_norm with whole rows in one tile: mean, then the variance of x - mean (two-pass)."""
    M, N = x.shape
    (N,) = weight.shape
    (N,) = bias.shape
    M, N = out.shape
    for m in tl.tile(M):
        v = x[m, :].to(tl.float32)
        mean = tl.sum(v, axis=1) / N
        centred = v - mean[:, None]
        rstd = tl.rsqrt(tl.sum(centred * centred, axis=1) / N + eps)
        w = weight[:].to(tl.float32)[None, :]
        b = bias[:].to(tl.float32)[None, :]
        out[m, :] = (centred * rstd[:, None] * w + b).to(out.dtype)


@tl.tile
def rms_norm_rows_kernel(x, weight, out, eps):
    """rms_norm with whole rows in one tile."""
    M, N = x.shape
    (N,) = weight.shape
    M, N = out.shape
    for m in tl.tile(M):
        v = x[m, :].to(tl.float32)
        rstd = tl.rsqrt(tl.sum(v * v, axis=1) / N + eps)
        out[m, :] = (v * rstd[:, None] * weight[:].to(tl.float32)[None, :]).to(out.dtype)


@tl.tile
def layer_norm_kernel(x, weight, bias, out, eps):
    """out[m] = (x[m] - mean) / sqrt(var + eps) * weight + bias, biased variance, per row m."""
    M, N = x.shape
    (N,) = weight.shape
    (N,) = bias.shape
    M, N = out.shape
    for m in tl.tile(M):
        count = tl.zeros([m], tl.float32)
        mean = tl.zeros([m], tl.float32)
        m2 = tl.zeros([m], tl.float32)
        for n in tl.tile(N):
            real = n.index[None, :] < N
            v = x[m, n].to(tl.float32)
            nb = tl.sum((n.index < N).to(tl.float32), axis=0)  # real columns in this tile
            tile_mean = tl.sum(tl.where(real, v, 0.0), axis=1) / nb
            dev = tl.where(real, v - tile_mean[:, None], 0.0)
            tile_m2 = tl.sum(dev * dev, axis=1)
            total = count + nb
            delta = tile_mean - mean
            mean = mean + delta * (nb / total)
            m2 = m2 + tile_m2 + delta * delta * (count * nb / total)
            count = total
        rstd = tl.rsqrt(m2 / N + eps)
        for n in tl.tile(N):
            v = (x[m, n].to(tl.float32) - mean[:, None]) * rstd[:, None]
            w = weight[n].to(tl.float32)[None, :]
            b = bias[n].to(tl.float32)[None, :]
            out[m, n] = (v * w + b).to(out.dtype)


@tl.tile
def rms_norm_kernel(x, weight, out, eps):
    """out[m] = x[m] / sqrt(mean(x[m]^2) + eps) * weight, per row m."""
    M, N = x.shape
    (N,) = weight.shape
    M, N = out.shape
    for m in tl.tile(M):
        sq = tl.zeros([m], tl.float32)
        for n in tl.tile(N):
            v = x[m, n].to(tl.float32)
            sq += tl.sum(v * v, axis=1)
        rstd = tl.rsqrt(sq / N + eps)
        for n in tl.tile(N):
            v = x[m, n].to(tl.float32) * rstd[:, None]
            out[m, n] = (v * weight[n].to(tl.float32)[None, :]).to(out.dtype)


TUNING_SPACE = [tl.Config(BLOCK_M=bm, BLOCK_N=bn) for bm in (4, 8, 16) for bn in (256, 512, 1024)]


def _rows(fn: str, x, normalized_shape):
    """x as [rows, prod(normalized_shape)] (the trailing dims flattened) and normalized_shape as a tuple."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise LaunchError(f"{fn}: `x` must be a torch tensor, got {type(x).__name__}")
    if str(x.dtype).removeprefix("torch.") not in SUPPORTED:
        raise LaunchError(f"{fn}: `x` has dtype {x.dtype}; supported: {', '.join(SUPPORTED)}")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or any(type(s) is not int or s < 1 for s in shape):
        raise LaunchError(f"{fn}: normalized_shape must be a positive int or a non-empty tuple of them, "
                          f"got {normalized_shape!r}")
    if tuple(x.shape[x.dim() - len(shape):]) != shape or x.dim() < len(shape):
        raise LaunchError(f"{fn}: normalized_shape {shape} does not match the trailing dimensions of x "
                          f"(shape {tuple(x.shape)})")
    n = 1
    for s in shape:
        n *= s
    return x.reshape(-1, n), shape, n


def _affine(fn: str, name: str, t, shape, n, x, fill: float):
    import torch

    if t is None:
        return torch.full((n,), fill, dtype=torch.float32, device=x.device)
    if not isinstance(t, torch.Tensor):
        raise LaunchError(f"{fn}: `{name}` must be a torch tensor or None, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise LaunchError(f"{fn}: `{name}` has shape {tuple(t.shape)}; expected normalized_shape {shape}")
    if str(t.dtype).removeprefix("torch.") not in SUPPORTED:
        raise LaunchError(f"{fn}: `{name}` has dtype {t.dtype}; supported: {', '.join(SUPPORTED)}")
    if t.device != x.device:
        raise LaunchError(f"{fn}: `{name}` is on {t.device} but x is on {x.device}")
    return t.reshape(n)


def _eps(fn: str, eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise LaunchError(f"{fn}: eps must be a non-negative number, got {eps!r}")
    return float(eps)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5, *,
               config: tl.Config | None = None, backend: str | None = None):
    """torch.nn.functional.layer_norm: normalizes over the trailing `normalized_shape` dims."""
    import torch

    rows, shape, n = _rows("layer_norm", x, normalized_shape)
    w = _affine("layer_norm", "weight", weight, shape, n, x, 1.0)
    b = _affine("layer_norm", "bias", bias, shape, n, x, 0.0)
    out = torch.empty(rows.shape, dtype=x.dtype, device=x.device)
    if out.numel() and n <= WHOLE_ROW_MAX:
        layer_norm_rows_kernel(rows, w, b, out, _eps("layer_norm", eps), config=config or whole_row_config(n),
                               backend=backend)
    elif out.numel():
        layer_norm_kernel(rows, w, b, out, _eps("layer_norm", eps), config=config, backend=backend)
    return out.reshape(x.shape)


def rms_norm(x, normalized_shape, weight=None, eps: float | None = None, *,
             config: tl.Config | None = None, backend: str | None = None):
    """torch.nn.functional.rms_norm: x / sqrt(mean(x^2) + eps) * weight over the trailing dims;
    eps=None means torch.finfo(x.dtype).eps, as in torch."""
    import torch

    rows, shape, n = _rows("rms_norm", x, normalized_shape)
    w = _affine("rms_norm", "weight", weight, shape, n, x, 1.0)
    eps = torch.finfo(x.dtype).eps if eps is None else _eps("rms_norm", eps)
    out = torch.empty(rows.shape, dtype=x.dtype, device=x.device)
    if out.numel() and n <= WHOLE_ROW_MAX:
        rms_norm_rows_kernel(rows, w, out, eps, config=config or whole_row_config(n), backend=backend)
    elif out.numel():
        rms_norm_kernel(rows, w, out, eps, config=config, backend=backend)
    return out.reshape(x.shape)
