"""GEMM in the tile DSL: c = a @ b (f32 accumulation, input dtype out), optionally + bias, activation."""

from __future__ import annotations

import tilelang as tl
from tilelang.errors import LaunchError


@tl.tile
def matmul_kernel(a, b, c):
    M, K = a.shape
    K, N = b.shape
    M, N = c.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = acc.to(c.dtype)


@tl.func
def gelu(v):
    """Exact (erf) GELU, v * Phi(v), in f32. Phi comes from erfc by Numerical Recipes' Chebyshev
    fit (fractional error < 1.2e-7 everywhere), evaluated on |v| so the negative tail, where
    1 + erf would cancel, is a product of small numbers instead of a difference."""
    z = tl.abs(v) * 0.7071067811865476
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    half_erfc = 0.5 * t * tl.exp(poly - z * z)  # Phi(-|v|)
    return v * tl.where(v >= 0.0, 1.0 - half_erfc, half_erfc)


# Activation codes: constant parameters are ints, the wrapper maps the names to these.
ACTIVATION_CODES = {None: 0, "relu": 1, "gelu": 2, "silu": 3}
RELU, GELU, SILU = 1, 2, 3


@tl.func
def activate(v, activation):
    """The epilogue's activation of an f32 tile; `activation` is a compile-time code (0: none)."""
    r = v
    if activation == RELU:
        r = tl.maximum(v, 0.0)
    if activation == GELU:
        r = gelu(v)
    if activation == SILU:
        r = v * tl.sigmoid(v)
    return r


@tl.tile(constants=("has_bias", "activation"))
def matmul_epilogue_kernel(a, b, bias, c, has_bias, activation):
    """c = activation(a @ b + bias), a fused epilogue: bias [N] (broadcast over rows, ignored unless
    has_bias) and the activation apply to the f32 accumulator before the one store, so the product
    never goes through memory."""
    M, K = a.shape
    K, N = b.shape
    M, N = c.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        if has_bias:
            acc = acc + bias[n][None, :].to(tl.float32)
        c[m, n] = activate(acc, activation).to(c.dtype)


SUPPORTED = ("float16", "bfloat16", "float32")
ACTIVATIONS = tuple(ACTIVATION_CODES)

# Tile sizes worth sweeping (`tilelang.autotune.sweep.tune(kernel, *args, configs=TUNING_SPACE)`); the
# winner lands in the tuning database, which later calls without config= consult.
TUNING_SPACE = [tl.Config(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk) for bm in (64, 128) for bn in (64, 128)
                for bk in (64, 128)]


def matmul(a, b, *, bias=None, activation: str | None = None, config: tl.Config | None = None,
           backend: str | None = None):
    """activation(a @ b + bias) for 2-D torch tensors of one dtype (f16, bf16 or f32), accumulating
    in f32; bias is an optional [N] tensor (any of those dtypes), activation None, "relu", "gelu"
    (exact, erf-based, like torch's default) or "silu"; both are applied to the f32 accumulator."""
    import torch

    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor):
            raise LaunchError(f"matmul: `{name}` must be a torch tensor, got {type(t).__name__}")
        if t.dim() != 2:
            raise LaunchError(f"matmul: `{name}` must be 2-D, got shape {tuple(t.shape)}")
        if str(t.dtype).removeprefix("torch.") not in SUPPORTED:
            raise LaunchError(f"matmul: `{name}` has dtype {t.dtype}; supported: {', '.join(SUPPORTED)}")
    if a.dtype != b.dtype:
        raise LaunchError(f"matmul: a is {a.dtype} but b is {b.dtype}; convert one of them")
    if a.shape[1] != b.shape[0]:
        raise LaunchError(f"matmul: inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    if not isinstance(activation, (str, type(None))) or activation not in ACTIVATIONS:
        raise LaunchError(f"matmul: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise LaunchError(f"matmul: `bias` must be a torch tensor or None, got {type(bias).__name__}")
        if tuple(bias.shape) != (b.shape[1],):
            raise LaunchError(f"matmul: bias has shape {tuple(bias.shape)}; expected ({b.shape[1]},), one "
                              "value per output column")
        if str(bias.dtype).removeprefix("torch.") not in SUPPORTED:
            raise LaunchError(f"matmul: `bias` has dtype {bias.dtype}; supported: {', '.join(SUPPORTED)}")
        if bias.device != a.device:
            raise LaunchError(f"matmul: bias is on {bias.device} but a is on {a.device}")
    c = torch.empty((a.shape[0], b.shape[1]), dtype=a.dtype, device=a.device)
    if bias is None and activation is None:
        matmul_kernel(a, b, c, config=config, backend=backend)
    else:  # without a bias, a 1-element stand-in that the compiled kernel never reads
        stand_in = bias if bias is not None else torch.zeros(1, dtype=a.dtype, device=a.device)
        matmul_epilogue_kernel(a, b, stand_in, c, bias is not None, ACTIVATION_CODES[activation], config=config, backend=backend)
    return c
