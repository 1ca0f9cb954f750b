"""Softmax along one dimension, written in the tile DSL: `softmax(x, dim=-1)`.

One program per tile of rows, two passes over each row in column tiles, so rows of any length
compile once: the first keeps a running maximum and a sum of exponentials rescaled whenever the
maximum grows (the online softmax), the second writes exp(x - max) / sum. Everything is computed in
f32 and subtracting the row maximum keeps exp from overflowing, so large inputs (1e30, f16's 65504)
are fine. A row whose entries are all -inf has no finite maximum: like torch, it gives NaN.
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


SUPPORTED = ("float16", "bfloat16", "float32")

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
        softmax_kernel(rows, out, config=config, backend=backend)
    return back(out)
