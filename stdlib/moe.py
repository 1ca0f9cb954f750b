"""A whole mixture-of-experts layer, and grouped_matmul, written in the tile DSL.

moe(x, router_logits, w_gate_up, w_down, top_k) runs, all as tile kernels (stdlib/moe_kernels.py):

1. routing: softmax over the experts (f32), the top_k largest, renormalized to sum to 1 per token
   (Mixtral's convention, and Qwen-MoE's with norm_topk_prob);
2. counts per expert;
3. optional token rounding (SonicMoE): each expert's token count rounded to a multiple of the
   row tile BM, by adding its best-scoring unrouted tokens or dropping its weakest routed ones;
4. a tile map (tile -> expert, row range), the permutation that sorts the (token, expert) pairs by
   expert, and each token's list of rows;
5. one grouped GEMM launch over all experts on gathered token rows, x[tok] @ w_gate_up[e], with
   the SwiGLU silu(gate) * up in its epilogue;
6. a second grouped GEMM, act @ w_down[e];
7. the combine: each token sums its rows, weighted, in increasing expert order (no atomics: the
   same bits on every run).

The host only allocates buffers (sized from upper bounds, so nothing is read back to the host
unless `return_info=True`) and slices w_gate_up into its gate and up halves (views).
"""

from __future__ import annotations

from dataclasses import dataclass

import tilelang as tl
from tilelang.errors import LaunchError

from .moe_kernels import (combine_kernel, expert_counts_kernel, gate_up_swiglu_kernel, grouped_gemm_kernel,
                          max_count_kernel, moe_route_kernel, permute_kernel, tile_map_kernel, token_lists_kernel,
                          token_rounding_kernel)

SUPPORTED = ("float16", "bfloat16", "float32")
ROUNDING_MODES = {"nearest": 0, "up": 1, "down": 2}
DEFAULT_BLOCK_M = 64  # rows per grouped-GEMM tile (and the token-rounding multiple)


@dataclass(frozen=True)
class MoEInfo:
    """What routing did (moe(..., return_info=True)).

    counts: rows each expert computed (after token rounding); topk_counts: rows plain top-k routing
    gives each expert. padded_rows: rows the grouped GEMMs compute beyond the real ones (each
    expert's last tile filled up to block_m); topk_padded_rows: the same for plain top-k routing;
    padding_saved = topk_padded_rows - padded_rows. added_pairs / dropped_pairs: (token, expert)
    pairs token rounding added / dropped."""

    block_m: int
    token_rounding: str | None
    counts: tuple[int, ...]
    topk_counts: tuple[int, ...]
    padded_rows: int
    topk_padded_rows: int
    padding_saved: int
    added_pairs: int
    dropped_pairs: int


def _alloc(shape, dtype, device):
    """Every buffer moe / grouped_matmul make (tests replace this to poison them all)."""
    import torch

    return torch.empty(shape, dtype=dtype, device=device)


def _dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def _check_tensor(fn: str, name: str, t, rank: int, dtypes=SUPPORTED):
    import torch

    if not isinstance(t, torch.Tensor):
        raise LaunchError(f"{fn}: `{name}` must be a torch tensor, got {type(t).__name__}")
    if t.dim() != rank:
        raise LaunchError(f"{fn}: `{name}` must be {rank}-D, got shape {tuple(t.shape)}")
    if _dtype_name(t) not in dtypes:
        raise LaunchError(f"{fn}: `{name}` has dtype {t.dtype}; supported: {', '.join(dtypes)}")


def _check_block_m(fn: str, block_m):
    if type(block_m) is not int or block_m < 1 or block_m & (block_m - 1):
        raise LaunchError(f"{fn}: block_m must be a power of two >= 1, got {block_m!r}")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def moe(x, router_logits, w_gate_up, w_down, top_k: int, *, token_rounding: str | None = None,
        block_m: int = DEFAULT_BLOCK_M, return_info: bool = False, backend: str | None = None):
    """A mixture-of-experts layer with SwiGLU experts; returns [T, H] in x's dtype.

    x: [T, H]; router_logits: [T, E] (any supported float dtype; routing runs in f32);
    w_gate_up: [E, H, 2*I], gate in [..., :I], up in [..., I:]; w_down: [E, I, H].
    out[t] = sum over the experts e token t goes to of weight[t, e] * expert_e(x[t]), with
    expert_e(v) = (silu(v @ gate_e) * (v @ up_e)) @ w_down[e] and weight[t, e] = p[t, e] / (sum of
    t's top_k probabilities), p = softmax(router_logits[t]) (ties in the top-k: lower expert first).
    token_rounding: None (plain top-k), "nearest", "up" or "down" (SonicMoE; see docs/stdlib.md).
    block_m: rows per grouped-GEMM tile, a power of two (also the rounding multiple).
    return_info=True returns (out, MoEInfo) with the padding token rounding saved (reads counts
    back to the host).
    """
    import torch

    fn = "moe"
    _check_tensor(fn, "x", x, 2)
    _check_tensor(fn, "router_logits", router_logits, 2)
    _check_tensor(fn, "w_gate_up", w_gate_up, 3)
    _check_tensor(fn, "w_down", w_down, 3)
    for name, t in (("w_gate_up", w_gate_up), ("w_down", w_down)):
        if t.dtype != x.dtype:
            raise LaunchError(f"{fn}: x is {x.dtype} but {name} is {t.dtype}; convert one of them")
    for name, t in (("router_logits", router_logits), ("w_gate_up", w_gate_up), ("w_down", w_down)):
        if t.device != x.device:
            raise LaunchError(f"{fn}: x is on {x.device} but {name} is on {t.device}")
    T, H = x.shape
    E = router_logits.shape[1]
    if router_logits.shape[0] != T:
        raise LaunchError(f"{fn}: router_logits has {router_logits.shape[0]} rows but x has {T} tokens")
    if E < 1:
        raise LaunchError(f"{fn}: router_logits has no experts (shape {tuple(router_logits.shape)})")
    if w_gate_up.shape[0] != E or w_down.shape[0] != E:
        raise LaunchError(f"{fn}: router_logits has {E} experts but w_gate_up has {w_gate_up.shape[0]} and "
                          f"w_down {w_down.shape[0]}")
    if w_gate_up.shape[1] != H or w_gate_up.shape[2] % 2:
        raise LaunchError(f"{fn}: w_gate_up must be [E, H, 2*I] = [{E}, {H}, 2*I], got {tuple(w_gate_up.shape)}")
    I = w_gate_up.shape[2] // 2
    if tuple(w_down.shape[1:]) != (I, H) or I == 0:
        raise LaunchError(f"{fn}: w_down must be [E, I, H] = [{E}, {I}, {H}] to match w_gate_up "
                          f"{tuple(w_gate_up.shape)} and x {tuple(x.shape)}, got {tuple(w_down.shape)}")
    if type(top_k) is not int or not 1 <= top_k <= E:
        raise LaunchError(f"{fn}: top_k must be an int in [1, {E}] (the number of experts), got {top_k!r}")
    if token_rounding is not None and token_rounding not in ROUNDING_MODES:
        raise LaunchError(f"{fn}: token_rounding must be None, 'nearest', 'up' or 'down', got {token_rounding!r}")
    _check_block_m(fn, block_m)
    dev = x.device
    out = _alloc((T, H), x.dtype, dev)
    if T == 0 or H == 0:
        return (out, _info(block_m, token_rounding, [0] * E, [0] * E)) if return_info else out

    r = _route(x, router_logits, top_k, token_rounding, block_m, backend)
    act = _alloc((r.rows_bound, I), x.dtype, dev)
    gate_up_swiglu_kernel(x, r.row_token, w_gate_up[:, :, :I], w_gate_up[:, :, I:], *r.tile_map, act, block_m,
                          backend=backend)
    y = _alloc((r.rows_bound, H), x.dtype, dev)
    grouped_gemm_kernel(act, w_down, *r.tile_map, y, block_m, backend=backend)
    most = _alloc((1,), torch.int32, dev)
    max_count_kernel(r.tok_count, most, config=_scan_config(T), backend=backend)
    combine_kernel(y, r.tok_rows, r.tok_w, r.tok_count, most, out, backend=backend)
    if not return_info:
        return out
    added = dropped = 0
    if token_rounding is not None:
        before, after = r.sel_topk != 0, r.sel != 0
        added, dropped = int((after & ~before).sum()), int((before & ~after).sum())
    return out, _info(block_m, token_rounding, r.counts.tolist(), r.topk_counts.tolist(), added, dropped)


@dataclass
class _Routing:
    """The device buffers routing leaves for the GEMMs and the combine (see moe_kernels.py)."""

    sel_topk: object
    topk_counts: object
    sel: object
    counts: object
    rows_bound: int
    tile_map: list
    row_token: object
    tok_rows: object
    tok_w: object
    tok_count: object


def _route(x, router_logits, top_k, token_rounding, block_m, backend) -> _Routing:
    """Steps 1-4 of the module docstring: routing, counts, rounding, tile map, permutation, token lists."""
    import torch

    (T, E), dev, i32 = router_logits.shape, x.device, torch.int32
    scan = _scan_config(T)
    wmat = _alloc((T, E), torch.float32, dev)
    sel = _alloc((T, E), i32, dev)
    moe_route_kernel(router_logits, wmat, sel, top_k, backend=backend)
    counts = _alloc((E,), i32, dev)
    expert_counts_kernel(sel, counts, config=tl.Config(BLOCK_T=min(64, _pow2(T)), BLOCK_E=min(32, _pow2(E))),
                         backend=backend)
    topk_counts, sel_topk = counts, sel
    rows_bound = T * top_k  # rows the grouped GEMMs may need: an upper bound known without a sync
    if token_rounding is not None:
        sel_r, counts_r = _alloc((T, E), i32, dev), _alloc((E,), i32, dev)
        token_rounding_kernel(wmat, sel, counts, sel_r, counts_r, block_m, ROUNDING_MODES[token_rounding],
                              config=scan, backend=backend)
        sel, counts = sel_r, counts_r
        if token_rounding != "down":  # at most block_m - 1 rows more per expert, and never more than T
            rows_bound = min(rows_bound + E * (block_m - 1), T * E)
    rows_bound = max(rows_bound, 1)
    tile_map = _tile_map(counts, rows_bound, block_m, backend)
    row_token = _alloc((rows_bound,), i32, dev)
    pair_row = _alloc((T, E), i32, dev)
    permute_kernel(sel, counts, row_token, pair_row, config=scan, backend=backend)
    tok_rows = _alloc((T, E), i32, dev)
    tok_w = _alloc((T, E), torch.float32, dev)
    tok_count = _alloc((T,), i32, dev)
    token_lists_kernel(sel, pair_row, wmat, tok_rows.view(-1), tok_w.view(-1), tok_count, backend=backend)
    return _Routing(sel_topk, topk_counts, sel, counts, rows_bound, tile_map, row_token, tok_rows, tok_w, tok_count)


# Tile sizes worth sweeping for the two grouped GEMMs (their row tile is block_m, fixed per call);
# on a GPU also warps and pipeline stages. The gate/up kernel keeps two [block_m, BLOCK_N] f32
# accumulators, so BLOCK_N=256 with 4 warps is left to the sweep to reject, not assumed.
GEMM_TUNING_SPACE = [tl.Config(BLOCK_N=n, BLOCK_K=k) for n in (64, 128, 256) for k in (32, 64, 128, 256)]
GPU_GEMM_TUNING_SPACE = [tl.Config(BLOCK_N=n, BLOCK_K=k, num_warps=w, num_stages=st)
                         for n in (64, 128, 256) for k in (32, 64, 128) for w in (4, 8) for st in (3, 4)]


def tune_moe(x, router_logits, w_gate_up, w_down, top_k: int, *, token_rounding: str | None = None,
             block_m: int = DEFAULT_BLOCK_M, configs: list | None = None, budget: float | None = None,
             workers: int | None = None, backend: str | None = None):
    """Tune both grouped GEMMs of moe() on these inputs and store the winners in the tuning database
    (docs/autotune.md); later moe() calls of the same shape class use them. Returns the two
    TuneResults (gate/up + SwiGLU, then down). configs: default GEMM_TUNING_SPACE (GPU_GEMM_TUNING_SPACE
    for CUDA tensors); budget: seconds
    per kernel; workers: processes compiling configs in parallel (1: compile in this process)."""
    from tilelang.autotune.sweep import tune

    moe(x, router_logits, w_gate_up, w_down, top_k, token_rounding=token_rounding, block_m=block_m,
        backend=backend)  # validates the arguments the same way
    I = w_gate_up.shape[2] // 2
    r = _route(x, router_logits, top_k, token_rounding, block_m, backend)
    act = _alloc((r.rows_bound, I), x.dtype, x.device)
    y = _alloc((r.rows_bound, x.shape[1]), x.dtype, x.device)
    space = configs or (GPU_GEMM_TUNING_SPACE if x.device.type == "cuda" else GEMM_TUNING_SPACE)
    first = tune(gate_up_swiglu_kernel, x, r.row_token, w_gate_up[:, :, :I], w_gate_up[:, :, I:], *r.tile_map,
                 act, block_m, configs=space, backend=backend, budget=budget, workers=workers, progress=False)
    gate_up_swiglu_kernel(x, r.row_token, w_gate_up[:, :, :I], w_gate_up[:, :, I:], *r.tile_map, act, block_m,
                          backend=backend)
    second = tune(grouped_gemm_kernel, act, w_down, *r.tile_map, y, block_m, configs=space, backend=backend,
                  budget=budget, workers=workers, progress=False)
    return first, second


def _pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _scan_config(T: int):
    """One program per expert scans all T tokens (counts, permutation, rounding passes): long tiles,
    so that T = 16k is 16 steps rather than 512 of the default 32-element GPU tile."""
    return tl.Config(BLOCK_T=min(1024, _pow2(T)))


def _padding(counts: list[int], block_m: int) -> int:
    return sum(_cdiv(c, block_m) * block_m - c for c in counts)


def _info(block_m, token_rounding, counts, topk_counts, added=0, dropped=0) -> MoEInfo:
    padded, topk_padded = _padding(counts, block_m), _padding(topk_counts, block_m)
    return MoEInfo(block_m, token_rounding, tuple(counts), tuple(topk_counts), padded, topk_padded,
                   topk_padded - padded, added, dropped)


def _tile_map(counts, rows_bound: int, block_m: int, backend):
    """(tile_expert, tile_start, tile_end) over an upper bound of tiles: sum of ceil(c / BM) <= rows/BM + groups."""
    import torch

    n_tiles = _cdiv(rows_bound, block_m) + counts.shape[0]
    maps = [_alloc((n_tiles,), torch.int32, counts.device) for _ in range(3)]
    tile_map_kernel(counts, *maps, block_m, backend=backend)
    return maps


def grouped_matmul(a, b, group_sizes, *, block_m: int = DEFAULT_BLOCK_M, backend: str | None = None):
    """out[rows of group g] = a[rows of group g] @ b[g], groups of rows one after another; f32 accumulation.

    a: [M, K]; b: [G, K, N] (same dtype: f16, bf16 or f32); group_sizes: G non-negative ints summing
    to M (a list, or an integer tensor; read on the host to check it). One kernel launch covers all
    groups; returns [M, N] in a's dtype.
    """
    import torch

    fn = "grouped_matmul"
    _check_tensor(fn, "a", a, 2)
    _check_tensor(fn, "b", b, 3)
    if a.dtype != b.dtype:
        raise LaunchError(f"{fn}: a is {a.dtype} but b is {b.dtype}; convert one of them")
    if a.device != b.device:
        raise LaunchError(f"{fn}: a is on {a.device} but b is on {b.device}")
    M, K = a.shape
    G, K2, N = b.shape
    if K2 != K:
        raise LaunchError(f"{fn}: inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    if isinstance(group_sizes, torch.Tensor):
        if group_sizes.dim() != 1 or group_sizes.dtype.is_floating_point or group_sizes.dtype == torch.bool:
            raise LaunchError(f"{fn}: group_sizes must be a 1-D integer tensor, got {group_sizes.dtype} "
                              f"of shape {tuple(group_sizes.shape)}")
        sizes = [int(s) for s in group_sizes.tolist()]
    else:
        try:
            sizes = [s if type(s) is int else int(s.__index__()) for s in group_sizes]
        except (TypeError, AttributeError):
            raise LaunchError(f"{fn}: group_sizes must be a list of ints or an integer tensor, "
                              f"got {group_sizes!r}") from None
    if len(sizes) != G:
        raise LaunchError(f"{fn}: group_sizes has {len(sizes)} entries but b has {G} groups")
    if any(s < 0 for s in sizes) or sum(sizes) != M:
        raise LaunchError(f"{fn}: group_sizes must be non-negative and sum to a's {M} rows, got {sizes}")
    _check_block_m(fn, block_m)
    out = _alloc((M, N), a.dtype, a.device)
    if M == 0 or N == 0:
        return out
    if K == 0:
        return out.zero_()
    counts = torch.tensor(sizes, dtype=torch.int32, device=a.device)
    tile_expert, tile_start, tile_end = _tile_map(counts, M, block_m, backend)
    grouped_gemm_kernel(a, b, tile_expert, tile_start, tile_end, out, block_m, backend=backend)
    return out
