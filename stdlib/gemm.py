"""GEMM written in the tile DSL: c = a @ b with f32 accumulation, output in the input dtype."""

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


SUPPORTED = ("float16", "bfloat16", "float32")


def matmul(a, b, *, config: tl.Config | None = None, backend: str | None = None):
    """a @ b for 2-D torch tensors of one dtype (f16, bf16 or f32), accumulating in f32."""
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
    c = torch.empty((a.shape[0], b.shape[1]), dtype=a.dtype, device=a.device)
    matmul_kernel(a, b, c, config=config, backend=backend)
    return c
