"""Softmax along one dimension, written in the tile DSL: `softmax(x, dim=-1)`.

Two kernels, one program per tile of rows:
- rows up to WHOLE_ROW_MAX elements (`softmax_rows_kernel`): each program loads its rows whole
  (`x[m, :]`), so x is read once and exp computed once per element; it compiles once per row length.
- longer rows (`softmax_kernel`): two passes over each row in column tiles (any length compiles
  once): a running maximum and a sum of exponentials rescaled whenever the maximum grows (the online
  softmax), then exp(x - max) / sum.
Everything is computed in f32 and subtracting the row maximum keeps exp from overflowing, so large
inputs (1e30, f16's 65504) are fine. A row whose entries are all -inf has no finite maximum: like
torch, it gives NaN.
"""

from __future__ import annotations

import tilelang as tl
from tilelang.errors import LaunchError

NEG_INF = float("-inf")


@tl.tile
def softmax_kernel(x, out):
    """out[m, :] = softmax(x[m, :]) for a 2-D x; rows in column tiles of BLOCK_N."""
    M, N = x.shape
    M, N = out.shape
    for m in tl.tile(M):
        row_max = tl.full([m], NEG_INF, tl.float32)
        row_sum = tl.zeros([m], tl.float32)
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=NEG_INF).to(tl.float32)
            new_max = tl.maximum(row_max, tl.max(v, axis=1))
            # while a row has seen only -inf, subtract 0 instead of -inf (-inf - -inf would be NaN)
            base = tl.where(new_max == NEG_INF, 0.0, new_max)
            row_sum = row_sum * tl.exp(row_max - base) + tl.sum(tl.exp(v - base[:, None]), axis=1)
            row_max = new_max
        base = tl.where(row_max == NEG_INF, 0.0, row_max)
        inv = 1.0 / row_sum
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=NEG_INF).to(tl.float32)
            out[m, n] = (tl.exp(v - base[:, None]) * inv[:, None]).to(out.dtype)


@tl.tile
def softmax_rows_kernel(x, out):
    """out[m, :] = softmax(x[m, :]) with whole rows in one tile (read once, one exp per element)."""
    M, N = x.shape
    M, N = out.shape
    for m in tl.tile(M):
        v = tl.load(x[m, :], other=NEG_INF).to(tl.float32)
        row_max = tl.max(v, axis=1)
        base = tl.where(row_max == NEG_INF, 0.0, row_max)
        e = tl.exp(v - base[:, None])
        out[m, :] = (e * (1.0 / tl.sum(e, axis=1))[:, None]).to(out.dtype)


SUPPORTED = ("float16", "bfloat16", "float32")

# Rows up to this many elements are taken whole (one compile per row length); longer rows loop.
WHOLE_ROW_MAX = 16384


def whole_row_config(n: int) -> tl.Config:
    """Rows per program for whole-row kernels when the caller gives no config: about 8K elements
    per tile (a power of two, at most 16 rows), so a tile stays in the core's L2."""
    rows = 1
    while rows < 16 and rows * 2 * n <= 8192:
        rows *= 2
    return tl.Config(BLOCK_M=rows)

# Tile sizes worth sweeping (`tilelang.autotune.sweep.tune(softmax_kernel, x, out, configs=...)`);
# the winner lands in the tuning database, which every later call without config= consults.
TUNING_SPACE = [tl.Config(BLOCK_M=bm, BLOCK_N=bn) for bm in (4, 8, 16) for bn in (256, 512, 1024)]


def rows_view(fn: str, x, dim: int):
    """x with `dim` moved last and the rest flattened: ([rows, n] tensor, how to undo it)."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise LaunchError(f"{fn}: `x` must be a torch tensor, got {type(x).__name__}")
    if str(x.dtype).removeprefix("torch.") not in SUPPORTED:
        raise LaunchError(f"{fn}: `x` has dtype {x.dtype}; supported: {', '.join(SUPPORTED)}")
    nd = max(x.dim(), 1)
    if type(dim) is not int or not -nd <= dim < nd:
        raise LaunchError(f"{fn}: dim={dim!r} is out of range for a tensor of {x.dim()} dimension(s)")
    t = x.reshape(1) if x.dim() == 0 else x
    moved = t.movedim(dim, -1)
    rows = moved.reshape(-1, moved.shape[-1]) if moved.dim() != 2 else moved

    def back(out2d):
        return out2d.reshape(moved.shape).movedim(-1, dim).reshape(x.shape).contiguous()

    return rows, back


def softmax(x, dim: int = -1, *, config: tl.Config | None = None, backend: str | None = None):
    """torch.softmax(x, dim) for f16/bf16/f32 tensors: computed in f32, returned in x's dtype."""
    import torch

    rows, back = rows_view("softmax", x, dim)
    out = torch.empty(rows.shape, dtype=x.dtype, device=x.device)
    if out.numel():
        n = rows.shape[1]
        if n <= WHOLE_ROW_MAX:
            softmax_rows_kernel(rows, out, config=config or whole_row_config(n), backend=backend)
        else:
            softmax_kernel(rows, out, config=config, backend=backend)
    return back(out)
