"""flash_attention: FlashAttention-2 forward and backward as a torch-like function.

The kernels are in stdlib/attention_kernels.py; this module checks the arguments, picks tile sizes,
allocates outputs and wires the backward kernels into torch.autograd.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys

import tilelang as tl
from tilelang.autotune.hook import call_memo_key, config_for_args
from tilelang.errors import LaunchError, Loc

from .attention_kernels import (flash_bwd_dkdv_kernel, flash_bwd_dq_kernel, flash_bwd_preprocess_kernel,
                                flash_fwd_kernel)

SUPPORTED = ("float16", "bfloat16", "float32", "float64")
MAX_HEAD_DIM = 256

# Default tiles per head dim (BLOCK_M query rows x BLOCK_N keys), used when neither config= nor the
# tuning database says otherwise. cpu: measured with benchmarks/stdlib_flash_attention_cpu.py; the
# query tile is the grid tile, so smaller tiles keep more cores busy on short sequences. GPU
# (Triton): FlashAttention-2's choices for sm_80/sm_90, not measured here (no GPU).
_CPU_TILES = {64: (64, 64), 128: (64, 64), 256: (32, 64)}
_GPU_TILES = {64: (128, 64, 4, 3), 128: (128, 64, 8, 2), 256: (64, 32, 8, 1)}
_INTERPRETER_TILES = (16, 16)


def attention_configs(head_dim: int, backend: str = "cpu", device: str = "cpu") -> list[tl.Config]:
    """The tuning space for a head dim: BLOCK_M x BLOCK_N (and num_warps / num_stages for Triton on
    a GPU). Sweep it with `tilelang.autotune.sweep.tune(kernel, *args, configs=...)`; the winner
    stored in the tuning database is what later calls without config= use."""
    if backend == "triton" and device == "cuda":
        out = []
        for bm in (64, 128):
            for bn in (32, 64, 128):
                for warps in (4, 8):
                    for stages in (1, 2, 3):
                        if bm * bn * max(head_dim, 64) <= 128 * 128 * 128:  # register / smem budget
                            out.append(tl.Config(BLOCK_M=bm, BLOCK_N=bn, num_warps=warps, num_stages=stages))
        return out
    if backend == "cpu":
        return [tl.Config(BLOCK_M=bm, BLOCK_N=bn) for bm in (16, 32, 64, 128) for bn in (32, 64, 128)
                if bm * max(head_dim, 64) <= 64 * 256]
    return [tl.Config(BLOCK_M=bm, BLOCK_N=bn) for bm in (16, 32) for bn in (16, 32)]


def default_config(head_dim: int, backend: str, device: str, seq_q: int, seq_k: int) -> tl.Config:
    """Tiles for a call without config=, capped at the next power of two of the sequence lengths."""
    def cap(block, extent):
        return max(16, min(block, 1 << max(0, int(extent) - 1).bit_length()))

    bucket = 64 if head_dim <= 64 else 128 if head_dim <= 128 else 256
    if backend == "triton" and device == "cuda":
        bm, bn, warps, stages = _GPU_TILES[bucket]
        return tl.Config(BLOCK_M=cap(bm, seq_q), BLOCK_N=cap(bn, seq_k), num_warps=warps, num_stages=stages)
    bm, bn = _CPU_TILES[bucket] if backend == "cpu" else _INTERPRETER_TILES
    return tl.Config(BLOCK_M=cap(bm, seq_q), BLOCK_N=cap(bn, seq_k))


# ---- argument checks ------------------------------------------------------------------------------


def _caller_loc() -> Loc | None:
    """The user's file:line that called into this module (errors point there, not at the stdlib)."""
    here = os.path.dirname(os.path.abspath(__file__))
    f = sys._getframe(1)
    while f is not None:
        name = os.path.abspath(f.f_code.co_filename)
        if not name.startswith(here) and "torch" + os.sep + "autograd" not in name:
            return Loc(f.f_code.co_filename, f.f_lineno, 0)
        f = f.f_back
    return None


def _fail(msg: str):
    raise LaunchError(f"flash_attention: {msg}", _caller_loc())


def _check_tensors(q, k, v, varlen: bool):
    import torch

    rank = 3 if varlen else 4
    layout = "[total, heads, head_dim]" if varlen else "[batch, heads, seq, head_dim]"
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            _fail(f"`{name}` must be a torch tensor, got {type(t).__name__}")
        if t.dim() != rank:
            _fail(f"`{name}` must be {rank}-D {layout}"
                  f"{' (packed: cu_seqlens given)' if varlen else ''}, got shape {tuple(t.shape)}")
        if str(t.dtype).removeprefix("torch.") not in SUPPORTED:
            _fail(f"`{name}` has dtype {t.dtype}; supported: {', '.join(SUPPORTED)}")
        if t.dtype != q.dtype:
            _fail(f"q is {q.dtype} but {name} is {t.dtype}; convert one of them")
        if t.device != q.device:
            _fail(f"q is on {q.device} but {name} is on {t.device}")
    hd = -1
    head = -2 if varlen else 1
    seq = 0 if varlen else 2
    if k.shape[hd] != q.shape[hd]:
        _fail(f"q and k have head dims {q.shape[hd]} and {k.shape[hd]}; they must be equal")
    for name, t in (("q", q), ("v", v)):
        if not 1 <= t.shape[hd] <= MAX_HEAD_DIM:
            _fail(f"`{name}` has head dim {t.shape[hd]}; supported: 1 to {MAX_HEAD_DIM}")
    if k.shape[:-1] != v.shape[:-1]:
        _fail(f"k {tuple(k.shape)} and v {tuple(v.shape)} must agree in every dimension but the last")
    if not varlen and k.shape[0] != q.shape[0]:
        _fail(f"q has batch {q.shape[0]} but k and v have {k.shape[0]}")
    hq, hk = q.shape[head], k.shape[head]
    if hk == 0 or hq % hk:
        _fail(f"q has {hq} heads and k, v have {hk}: the kv heads must divide the q heads (grouped-query "
              "attention)")
    return q.shape[seq], k.shape[seq]


def _check_cu(name: str, cu, total: int, max_seqlen, q):
    import torch

    if not isinstance(cu, torch.Tensor) or cu.dim() != 1 or cu.dtype != torch.int32 or cu.numel() < 1:
        _fail(f"`{name}` must be a 1-D int32 tensor of batch + 1 offsets, got "
              f"{tuple(cu.shape) if isinstance(cu, torch.Tensor) else type(cu).__name__}"
              f"{' ' + str(cu.dtype) if isinstance(cu, torch.Tensor) else ''}")
    if cu.device != q.device:
        _fail(f"`{name}` is on {cu.device} but q is on {q.device}")
    host = cu.tolist()
    if host[0] < 0 or any(b < a for a, b in zip(host, host[1:])) or host[-1] > total:
        _fail(f"`{name}` must rise from 0 or more to at most {total} (the packed length), got {host}")
    longest = max((b - a for a, b in zip(host, host[1:])), default=0)
    if max_seqlen is None:
        return longest
    if not isinstance(max_seqlen, int) or max_seqlen < longest:
        _fail(f"`max_seqlen_{name[-1]}` is {max_seqlen!r} but the longest sequence in `{name}` has {longest} rows")
    return max_seqlen


# ---- launching -------------------------------------------------------------------------------------


class _Call:
    """What the kernels of one attention call share: views, sizes, flags, config and backend."""

    def __init__(self, q, k, v, causal, scale, cu_q, cu_k, max_q, max_k, config, backend):
        import torch

        self.varlen = cu_q is not None
        self.causal = bool(causal)
        self.scale = float(scale)
        self.backend = backend
        self.acc_dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
        if self.varlen:
            self.nb = cu_q.numel() - 1
            self.cu_q, self.cu_k = cu_q, cu_k
        else:
            self.nb = q.shape[0]
            max_q, max_k = q.shape[2], k.shape[2]
            self.cu_q = self.cu_k = torch.zeros(2, dtype=torch.int32, device=q.device)
        self.max_q, self.max_k = max_q, max_k
        # stride-0 carriers of the grid's extents (sequences x longest sequence): never read
        one = torch.empty((1, 1), dtype=torch.int8, device=q.device)
        self.grid_q = one.expand(self.nb, max(max_q, 1))
        self.grid_k = one.expand(self.nb, max(max_k, 1))
        self.config = config
        name = backend or ("cpu" if q.device.type == "cpu" else "triton")
        self.default = default_config(q.shape[-1], name, q.device.type, max_q, max_k)

    def four_d(self, t):
        """The kernels' [batch, heads, rows, head_dim] view of a caller's tensor."""
        return t.permute(1, 0, 2).unsqueeze(0) if self.varlen else t

    def lse_view(self, lse):
        return lse.unsqueeze(0) if self.varlen else lse

    def run(self, kernel, *args, tiles=("BLOCK_M", "BLOCK_N")):
        """Launch with config=, else the tuning database's winner for this kernel and shape (see
        attention_configs), else the per-head-dim default; of the tile sizes, those in `tiles` (the
        preprocess kernel has no key tile)."""
        config = self.config
        if config is None:  # what the call path itself asks (tilelang/api.py `_call`), memoized there;
            # for kernels with whole-dimension tiles the hook has no hardware default: None = no entry
            memo = call_memo_key(kernel, args, kernel._arg_key(args), self.backend, kernel._watch())
            config = config_for_args(kernel, args, self.backend, memo) or self.default
        if any(name not in tiles for name, _ in config.tiles):
            config = dataclasses.replace(config, tiles=tuple((n, b) for n, b in config.tiles if n in tiles))
        kernel(*args, config=config, backend=self.backend)


def _forward(call: _Call, q, k, v):
    import torch

    o = torch.empty(q.shape[:-1] + (v.shape[-1],), dtype=q.dtype, device=q.device)
    lse_shape = (q.shape[1], q.shape[0]) if call.varlen else q.shape[:-1]  # varlen: [heads, total]
    lse = torch.empty(lse_shape, dtype=call.acc_dtype, device=q.device)
    if o.numel() == 0:
        return o, lse
    if (k.shape[0] if call.varlen else k.shape[2]) == 0:  # no keys at all: every row sees none
        return o.zero_(), lse.fill_(float("inf"))
    q4, k4, v4, o4 = (call.four_d(t) for t in (q, k, v, o))
    call.run(flash_fwd_kernel, q4, k4, v4, o4, call.lse_view(lse), call.cu_q, call.cu_k, call.grid_q,
             call.scale, call.causal, call.varlen)
    return o, lse


def _backward(call: _Call, q, k, v, o, lse, do, needed=(True, True, True)):
    """(dq, dk, dv); None where `needed` (q, k, v) says the gradient is not wanted."""
    import torch

    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    if q.numel() == 0 or k.numel() == 0:
        return dq.zero_(), dk.zero_(), dv.zero_()
    q4, k4, v4, o4, do4, dq4, dk4, dv4 = (call.four_d(t) for t in (q, k, v, o, do, dq, dk, dv))
    lse4 = call.lse_view(lse)
    delta = torch.empty_like(lse)
    delta4 = call.lse_view(delta)
    call.run(flash_bwd_preprocess_kernel, o4, do4, delta4, call.cu_q, call.grid_q, call.varlen, tiles=("BLOCK_M",))
    if needed[1] or needed[2]:  # one kernel makes both
        call.run(flash_bwd_dkdv_kernel, q4, k4, v4, do4, lse4, delta4, dk4, dv4, call.cu_q, call.cu_k, call.grid_k,
                 call.scale, call.causal, call.varlen)
    if needed[0]:
        call.run(flash_bwd_dq_kernel, q4, k4, v4, do4, lse4, delta4, dq4, call.cu_q, call.cu_k, call.grid_q,
                 call.scale, call.causal, call.varlen)
    return tuple(g if want else None for g, want in zip((dq, dk, dv), needed))


def _autograd_function():
    import torch
    from torch.autograd.function import once_differentiable

    class FlashAttentionFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v, call):
            o, lse = _forward(call, q, k, v)
            ctx.save_for_backward(q, k, v, o, lse)
            ctx.call = call
            ctx.mark_non_differentiable(lse)
            return o, lse

        @staticmethod
        @once_differentiable  # no double backward: a second derivative is refused with torch's message
        def backward(ctx, do, dlse):
            q, k, v, o, lse = ctx.saved_tensors
            dq, dk, dv = _backward(ctx.call, q, k, v, o, lse, do, tuple(ctx.needs_input_grad[:3]))
            return dq, dk, dv, None

    return FlashAttentionFunction


def tune_flash_attention(q, k, v, *, causal: bool = False, scale: float | None = None, cu_seqlens_q=None,
                         cu_seqlens_k=None, configs: list[tl.Config] | None = None, backend: str | None = None,
                         budget: float | None = None, db=None) -> dict:
    """Sweep the tile configs (`attention_configs` for the head dim unless `configs=` is given) for
    the forward, dk/dv and dq kernels on these inputs, and store each kernel's winner in the tuning
    database (`db`, else the default one), where later `flash_attention` calls of the same shape
    class without config= find it. Returns {kernel name: TuneResult}. The inputs are only read."""
    import torch

    from tilelang.autotune.sweep import tune

    varlen = cu_seqlens_q is not None
    _check_tensors(q, k, v, varlen)
    max_q = _check_cu("cu_seqlens_q", cu_seqlens_q, q.shape[0], None, q) if varlen else None
    max_k = _check_cu("cu_seqlens_k", cu_seqlens_k, k.shape[0], None, q) if varlen else None
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    name = backend or ("cpu" if q.device.type == "cpu" else "triton")
    configs = configs or attention_configs(q.shape[-1], name, q.device.type)
    with torch.no_grad():
        call = _Call(q, k, v, causal, scale, cu_seqlens_q, cu_seqlens_k, max_q, max_k, None, backend)
        o, lse = _forward(call, q, k, v)
        do = torch.randn_like(o)
        q4, k4, v4, o4, do4 = (call.four_d(t) for t in (q, k, v, o, do))
        dq4, dk4, dv4 = (call.four_d(torch.empty_like(t)) for t in (q, k, v))
        lse4, delta = call.lse_view(lse), torch.empty_like(lse)
        delta4 = call.lse_view(delta)
        call.run(flash_bwd_preprocess_kernel, o4, do4, delta4, call.cu_q, call.grid_q, call.varlen, tiles=("BLOCK_M",))
        common = (call.cu_q, call.cu_k)
        runs = {
            flash_fwd_kernel: (q4, k4, v4, o4, lse4, *common, call.grid_q, call.scale, call.causal, call.varlen),
            flash_bwd_dkdv_kernel: (q4, k4, v4, do4, lse4, delta4, dk4, dv4, *common, call.grid_k, call.scale,
                                    call.causal, call.varlen),
            flash_bwd_dq_kernel: (q4, k4, v4, do4, lse4, delta4, dq4, *common, call.grid_q, call.scale, call.causal,
                                  call.varlen),
        }
        return {kernel.name: tune(kernel, *args, configs=configs, backend=backend, budget=budget, db=db,
                                  progress=False) for kernel, args in runs.items()}


_FUNCTION = []


def flash_attention(q, k, v, *, causal: bool = False, scale: float | None = None, cu_seqlens_q=None,
                    cu_seqlens_k=None, max_seqlen_q: int | None = None, max_seqlen_k: int | None = None,
                    return_lse: bool = False, config: tl.Config | None = None, backend: str | None = None):
    """Scaled dot-product attention, FlashAttention-2 style, differentiable through torch.autograd.

    Dense: q [batch, heads, seq_q, head_dim], k and v [batch, kv_heads, seq_k, head_dim(_v)] (the
    layout of torch's scaled_dot_product_attention). Packed variable-length batches: q
    [total_q, heads, head_dim], k and v [total_k, kv_heads, head_dim(_v)] with `cu_seqlens_q` and
    `cu_seqlens_k` (int32, batch + 1 offsets). kv_heads must divide heads (grouped-query
    attention). f16, bf16, f32 (and f64); softmax statistics and accumulators in f32 (f64 for f64).

    `causal=True` masks key j for query i when j > i + seq_k - seq_q: the diagonal is aligned to the
    bottom-right corner as in FlashAttention (torch's `is_causal` aligns it top-left; the two agree
    when seq_q == seq_k). A query row that sees no key returns 0. `scale` defaults to
    1/sqrt(head_dim). `return_lse=True` also returns the natural log-sum-exp of each row's scaled
    scores ([batch, heads, seq_q], or [heads, total_q] packed; +inf for a row that sees no key).
    """
    import torch

    varlen = cu_seqlens_q is not None or cu_seqlens_k is not None
    if varlen and (cu_seqlens_q is None or cu_seqlens_k is None):
        _fail("give both cu_seqlens_q and cu_seqlens_k for a packed batch, or neither")
    if not varlen and (max_seqlen_q is not None or max_seqlen_k is not None):
        _fail("max_seqlen_q / max_seqlen_k go with cu_seqlens_q / cu_seqlens_k (packed batches)")
    if not isinstance(causal, bool):
        _fail(f"`causal` must be a bool, got {type(causal).__name__}")
    if config is not None and type(config) is not tl.Config:
        _fail(f"config= takes a tl.Config, got {type(config).__name__}")
    _check_tensors(q, k, v, varlen)
    if varlen:
        max_seqlen_q = _check_cu("cu_seqlens_q", cu_seqlens_q, q.shape[0], max_seqlen_q, q)
        max_seqlen_k = _check_cu("cu_seqlens_k", cu_seqlens_k, k.shape[0], max_seqlen_k, q)
        if cu_seqlens_q.numel() != cu_seqlens_k.numel():
            _fail(f"cu_seqlens_q has {cu_seqlens_q.numel()} offsets but cu_seqlens_k has "
                  f"{cu_seqlens_k.numel()}; both are batch + 1 long")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    elif isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        _fail(f"`scale` must be a finite number, got {scale!r}")
    call = _Call(q, k, v, causal, scale, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, config, backend)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        if not _FUNCTION:
            _FUNCTION.append(_autograd_function())
        o, lse = _FUNCTION[0].apply(q, k, v, call)
    else:
        o, lse = _forward(call, q, k, v)
    return (o, lse) if return_lse else o
