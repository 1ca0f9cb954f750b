"""Lightning attention (Lightning Attention-2): causal linear attention with a per-head decay.

For one (batch, head), with lambda = exp(-decay[head]) and row vectors q_t, k_t (length D), v_t (E):

    S_t = lambda * S_{t-1} + k_t^T v_t        (S_0 = 0, a D x E state)
    o_t = q_t S_t  =  sum_{s <= t} lambda^(t-s) (q_t . k_s) v_s

No softmax, no scale (scale q yourself). The kernel walks the sequence in blocks of BLOCK_N rows,
inside one program per (batch, head, value tile) so the state is a loop-carried value (the
soundness checker rejects a sequence split across programs):

    intra:  O_i  = [(Q_i K_i^T) * M] V_i,   M[r, c] = lambda^(r-c) for r >= c, else 0
    inter:  O_i += (Q_i * lambda^(r+1)) S             (S: the state before block i)
    update: S    = lambda^B S + (K_i * lambda^(B-1-c))^T V_i

The backward pass is the same kernel three times (see `_backward`): dq is a forward pass over
(dO, V, K), dk and dv are passes that run the sequence backwards over (V, dO, Q) and (K, Q, dO).
"""

from __future__ import annotations

import sys

import tilelang as tl
from tilelang.errors import LaunchError, Loc


@tl.tile(constants=("reverse",))
def lightning_kernel(q, k, v, decay, o, reverse):
    """o = lightning attention of q, k, v ([Z, H, S, D], [Z, H, S, D], [Z, H, S, E]) with
    lambda = exp(-decay[h]); `reverse` runs the recurrence from the last position to the first
    (o_t = sum_{s >= t} lambda^(s-t) (q_t . k_s) v_s), which the backward pass needs."""
    Z, H, S, D = q.shape
    Z, H, S, D = k.shape
    Z, H, S, E = v.shape
    Z, H, S, E = o.shape
    (H,) = decay.shape
    # One program per (batch, head, value tile): the state's columns are independent, so value tiles
    # add parallelism (at the price of recomputing Q K^T per tile); the sequence is one loop.
    for b, h, e in tl.tile([Z, H, E], block=[1, 1, None]):
        s = decay[h.id].to(tl.float32)
        state = tl.zeros([D, e], tl.float32)
        for n in tl.tile(S):
            if reverse:
                # Position n.index of the reversed sequence is row S-1-n.index; the last tile's
                # positions past S map to negative rows, which the masks leave out.
                rows = S - 1 - n.index
                real = rows >= 0
                qt = tl.load(q[b.id, h.id, rows, :], mask=real[:, None])
                kt = tl.load(k[b.id, h.id, rows, :], mask=real[:, None])
                vt = tl.load(v[b.id, h.id, rows, e], mask=real[:, None]).to(tl.float32)
            else:
                qt = q[b.id, h.id, n, :]
                kt = k[b.id, h.id, n, :]
                vt = v[b.id, h.id, n, e].to(tl.float32)
            # Q K^T in the input dtype: products of f16/bf16 values are exact in the f32 accumulator,
            # so this is the f32 result, on tensor cores where there are some.
            scores = qt @ kt.T
            qt = qt.to(tl.float32)
            kt = kt.to(tl.float32)
            r = (n.index - n.start).to(tl.float32)  # position inside the block
            gap = r[:, None] - r[None, :]
            # exp of a clamped gap: lambda^(r-c) for c > r would overflow before the mask drops it
            weights = tl.where(gap >= 0, tl.exp(-s * tl.maximum(gap, 0.0)), 0.0)
            out = (scores * weights) @ vt + (qt * tl.exp(-s * (r + 1.0))[:, None]) @ state
            if reverse:
                tl.store(o[b.id, h.id, rows, e], out.to(o.dtype), mask=real[:, None])
            else:
                o[b.id, h.id, n, e] = out.to(o.dtype)
            # Positions past the sequence's end loaded k = v = 0, so the last block adds nothing wrong
            # (and the state is not read after it).
            state = state * tl.exp(-s * n.size) + (kt * tl.exp(-s * (n.size - 1.0 - r))[:, None]).T @ vt


# The tuning space (`tune(lightning_kernel, ..., configs=CONFIGS)`, see docs/autotune.md): the
# sequence block trades the quadratic intra-block work (S * B * (D + E)) against the number of
# state updates (S / B of D x E); value tiles trade parallelism against recomputing Q K^T.
CONFIGS = [tl.Config(BLOCK_N=bn, BLOCK_E=be) for bn in (32, 64, 128) for be in (32, 64, 128)]

SUPPORTED = ("float16", "bfloat16", "float32")


def _caller_loc() -> Loc | None:
    """The user's line that called into this module (for located errors)."""
    f = sys._getframe(1)
    while f is not None and (f.f_code.co_filename == __file__ or "torch/autograd" in f.f_code.co_filename):
        f = f.f_back
    return Loc(f.f_code.co_filename, f.f_lineno, 0) if f is not None else None


def _fail(message: str):
    raise LaunchError(f"lightning_attention: {message}", _caller_loc())


def _check(q, k, v, decay):
    import torch

    for name, t in (("q", q), ("k", k), ("v", v), ("decay", decay)):
        if not isinstance(t, torch.Tensor):
            _fail(f"`{name}` must be a torch tensor, got {type(t).__name__}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != 4:
            _fail(f"`{name}` must be 4-D [batch, heads, seq, dim], got shape {tuple(t.shape)}")
        if str(t.dtype).removeprefix("torch.") not in SUPPORTED:
            _fail(f"`{name}` has dtype {t.dtype}; supported: {', '.join(SUPPORTED)}")
    if not (q.dtype == k.dtype == v.dtype):
        _fail(f"q, k, v must have one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape != k.shape:
        _fail(f"q and k must have the same shape, got {tuple(q.shape)} and {tuple(k.shape)}")
    if v.shape[:3] != q.shape[:3]:
        _fail(f"v must be [batch, heads, seq, value_dim] with q's first three sizes {tuple(q.shape[:3])}, "
              f"got {tuple(v.shape)}")
    if decay.dim() != 1 or decay.shape[0] != q.shape[1]:
        _fail(f"`decay` must be 1-D with one rate per head ({q.shape[1]}), got shape {tuple(decay.shape)}")
    if not decay.dtype.is_floating_point:
        _fail(f"`decay` must be a float tensor, got {decay.dtype}")
    if len({t.device for t in (q, k, v, decay)}) != 1:
        _fail(f"q, k, v and decay must be on one device, got {q.device}, {k.device}, {v.device}, {decay.device}")
    if decay.requires_grad:
        _fail("`decay` does not get a gradient: in Lightning Attention-2 the per-head rates are fixed "
              "(ALiBi-style slopes), not learned; pass `decay.detach()`")
    bad = ~(torch.isfinite(decay) & (decay >= 0))  # one host read; NaN and inf are bad too
    if bool(bad.any()):
        h = int(bad.nonzero()[0, 0])
        _fail(f"`decay` must be finite and >= 0 (lambda = exp(-decay) <= 1), got {decay[h].item()} for head {h}")


def _new_output(like):
    """The output buffer (a function of its own so that tests can hand out poisoned buffers)."""
    import torch

    return torch.empty(like.shape, dtype=like.dtype, device=like.device)


def _run(q, k, v, decay, reverse, config, backend):
    out = _new_output(v)
    if out.numel() == 0:
        return out
    if q.shape[-1] == 0:  # an empty dot product: every score is 0
        return out.zero_()
    if config is None:
        config = _default_config(q, k, v, decay, out, reverse, backend)
    lightning_kernel(q, k, v, decay, out, reverse, config=config, backend=backend)
    return out


def _default_config(q, k, v, decay, out, reverse, backend) -> tl.Config:
    """The tuning database's winner for this call's shape class (`tilelang tune` / `tune(...,
    configs=CONFIGS)`), else tiles measured to work well: on the cpu backend short sequence blocks
    and the whole value dim (benchmarks/README_cpu.md), elsewhere Lightning Attention-2's 64 x 64."""
    from tilelang.autotune.hook import call_memo_key, config_for_args

    # What the call path itself asks (tilelang/api.py `_call`), memoized there per shape class. For a
    # kernel with whole-dimension tiles the hook has no hardware default: None means no entry.
    args = (q, k, v, decay, out, reverse)
    kernel = lightning_kernel
    memo = call_memo_key(kernel, args, kernel._arg_key(args), backend, kernel._watch())
    tuned = config_for_args(kernel, args, backend, memo)
    if tuned is not None:
        return tuned
    e = 1 << max(0, v.shape[-1] - 1).bit_length()  # the value dim rounded up to a power of two
    if (backend or ("cpu" if v.device.type == "cpu" else "triton")) == "cpu":
        return tl.Config(BLOCK_N=32, BLOCK_E=min(e, 128))
    return tl.Config(BLOCK_N=64, BLOCK_E=min(e, 64))


def _backward(q, k, v, decay, grad_o, needed, config, backend):
    """(dq, dk, dv) of o = lightning(q, k, v), None where `needed` says so. With
    G_t = sum_{s >= t} lambda^(s-t) q_s^T dO_s:
    dq_t = sum_{s <= t} lambda^(t-s) (dO_t . v_s) k_s            forward pass over (dO, V, K)
    dk_t = v_t G_t^T = sum_{s >= t} lambda^(s-t) (v_t . dO_s) q_s reverse pass over (V, dO, Q)
    dv_t = k_t G_t   = sum_{s >= t} lambda^(s-t) (k_t . q_s) dO_s reverse pass over (K, Q, dO)"""
    dq = _run(grad_o, v, k, decay, False, config, backend) if needed[0] else None
    dk = _run(v, grad_o, q, decay, True, config, backend) if needed[1] else None
    dv = _run(k, q, grad_o, decay, True, config, backend) if needed[2] else None
    return dq, dk, dv


def _autograd_function():
    import torch
    from torch.autograd.function import once_differentiable

    class LightningAttention(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v, decay, config, backend):
            ctx.save_for_backward(q, k, v, decay)
            ctx.options = (config, backend)
            return _run(q, k, v, decay, False, config, backend)

        @staticmethod
        @once_differentiable  # the backward's kernels are not differentiable themselves: say so if asked
        def backward(ctx, grad_o):
            q, k, v, decay = ctx.saved_tensors
            grad_o = grad_o.to(v.dtype)
            dq, dk, dv = _backward(q, k, v, decay, grad_o, ctx.needs_input_grad[:3], *ctx.options)
            return dq, dk, dv, None, None, None

    return LightningAttention


_FUNCTION = []


def lightning_attention(q, k, v, decay, *, config: tl.Config | None = None, backend: str | None = None):
    """Causal linear attention with per-head exponential decay (Lightning Attention-2).

    q, k: [batch, heads, seq, D]; v: [batch, heads, seq, E]; one dtype of f16, bf16, f32.
    decay: [heads] float tensor of rates s >= 0; the per-step decay is lambda = exp(-s) (the
    convention of the Lightning Attention-2 code, where s is the ALiBi-style slope).
    Returns o [batch, heads, seq, E] in the input dtype with
    o_t = sum_{s <= t} lambda^(t-s) (q_t . k_s) v_s (accumulated in f32). Differentiable in q, k, v
    through torch.autograd; `decay` is a fixed rate and may not require grad."""
    _check(q, k, v, decay)
    if not _FUNCTION:
        _FUNCTION.append(_autograd_function())
    decay = decay.float()
    if q.requires_grad or k.requires_grad or v.requires_grad:
        return _FUNCTION[0].apply(q, k, v, decay, config, backend)
    return _run(q, k, v, decay, False, config, backend)
