"""tilelang.stdlib.flash_attention, forward and backward, on every backend, against float64 torch.

The reference is plain softmax attention in float64 with the same mask (bottom-right aligned
causal diagonal, kv heads repeated for grouped-query attention) and rows that see no key set to 0;
its gradients come from torch.autograd. Inputs are rounded to the tested dtype first, so the
comparison measures the kernels' own error.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import LaunchError
from tilelang.stdlib import flash_attention

from conftest import BACKENDS, TOLERANCE, TORCH_DTYPES, assert_close

# The kernels round p (and ds in the backward) to the input dtype before their products, as
# FlashAttention does: each term of a sum then carries a relative error of up to the dtype's unit
# roundoff. The tolerances below are that bound, computed in float64 from the reference's own p and
# ds (|p| @ |v| and so on), plus f32 accumulation error and the output's own rounding.
UNIT_ROUNDOFF = {"f32": 0.0, "f16": 2.0 ** -11, "bf16": 2.0 ** -8, "f64": 0.0}


def mask_of(sq, sk, causal):
    if not causal:
        return torch.ones(sq, sk, dtype=torch.bool)
    return torch.arange(sk)[None, :] <= torch.arange(sq)[:, None] + (sk - sq)


def reference(q, k, v, causal, scale):
    """Attention in float64 on [batch, heads, seq, dim] tensors; differentiable, never NaN (rows
    that see no key give 0)."""
    hq, hk = q.shape[1], k.shape[1]
    if k.shape[2] == 0:  # no keys: every row is 0 (amax below needs a key)
        return torch.zeros(q.shape[:-1] + v.shape[-1:], dtype=q.dtype) + 0 * (q.sum() + k.sum() + v.sum())
    k = k.repeat_interleave(hq // hk, 1)
    v = v.repeat_interleave(hq // hk, 1)
    s = ((q @ k.transpose(-1, -2)) * scale).masked_fill(~mask_of(q.shape[2], k.shape[2], causal), float("-inf"))
    row_max = s.amax(-1, keepdim=True)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max)).detach()
    e = torch.exp(s - row_max)
    total = e.sum(-1, keepdim=True)
    return (e / torch.where(total > 0, total, torch.ones_like(total))) @ v


def rounding_bounds(q, k, v, dout, causal, scale, dtype):
    """Bounds on the error the dtype's roundings cause in o, dq, dk, dv (float64): of p before
    p @ v and p^T @ dO, of ds before ds @ k and ds^T @ q, and of the stored output o, from which the
    backward's delta = rowsum(dO * o) is computed (as in FlashAttention)."""
    u = UNIT_ROUNDOFF[dtype]
    hq, hk = q.shape[1], k.shape[1]
    q, k, v, dout = (t.detach().double() for t in (q, k, v, dout))
    kr, vr = k.repeat_interleave(hq // hk, 1), v.repeat_interleave(hq // hk, 1)
    with torch.no_grad():
        p = torch.softmax(((q @ kr.transpose(-1, -2)) * scale).masked_fill(
            ~mask_of(q.shape[2], k.shape[2], causal), float("-inf")), -1).nan_to_num(0.0)
        o = p @ vr
        ds = p * (dout @ vr.transpose(-1, -2) - (dout * o).sum(-1, keepdim=True))
        delta_error = u * (dout.abs() * (o.abs() + u * p @ vr.abs())).sum(-1, keepdim=True)
        ds_error = u * ds.abs() + p * delta_error
        group = lambda t: t.reshape(t.shape[0], hk, hq // hk, *t.shape[2:]).sum(2)  # noqa: E731
        return {"o": u * p @ vr.abs(), "dq": scale * ds_error @ kr.abs(),
                "dk": group(scale * ds_error.transpose(-1, -2) @ q.abs()),
                "dv": group(u * p.transpose(-1, -2) @ dout.abs())}


def close(what, got, want, bound, dtype, length):
    """|got - want| <= the dtype's rtol * |want| + twice the rounding bound + f32 accumulation over
    `length` terms (assert_close's atol unit), elementwise."""
    assert not torch.isnan(got).any(), "NaN in the result: some element was not written or 0/0"
    rtol, atol_unit = TOLERANCE[dtype]
    scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
    err = (got.double() - want).abs()
    allowed = rtol * want.abs() + 2 * bound + atol_unit * max(length, 1) * scale
    worst = (err - allowed).flatten().argmax() if err.numel() else None
    assert worst is None or bool((err <= allowed).all()), (
        f"{what}: error {err.flatten()[worst]:.3g} > allowed {allowed.flatten()[worst]:.3g} at flat index {int(worst)} "
        f"(got {got.flatten()[worst]:.6g}, want {want.flatten()[worst]:.6g})")


def inputs(shape_q, shape_k, shape_v, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g).to(TORCH_DTYPES[dtype]).requires_grad_() for s in (shape_q, shape_k, shape_v)]


def check(q, k, v, causal, dtype, backend, scale=None, config=None):
    """Forward and backward of a dense call against the float64 reference."""
    out = flash_attention(q, k, v, causal=causal, scale=scale, config=config, backend=backend)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    want = reference(q64, k64, v64, causal, scale)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(7)).to(out.dtype)
    bounds = rounding_bounds(q, k, v, grad_out, causal, scale, dtype)
    sq, sk, group = q.shape[2], k.shape[2], q.shape[1] // k.shape[1]
    close("out", out.detach(), want.detach(), bounds["o"], dtype, sk)
    out.backward(grad_out)
    want.backward(grad_out.double())
    close("dq", q.grad, q64.grad, bounds["dq"], dtype, 4 * sk)
    close("dk", k.grad, k64.grad, bounds["dk"], dtype, 4 * sq * group)
    close("dv", v.grad, v64.grad, bounds["dv"], dtype, 4 * sq * group)


TILES = tl.Config(BLOCK_M=16, BLOCK_N=16)  # one config (and head dim 32, f32) for most tests: compiled once


def dense_case(backend, dtype, B, hk, group, sq, sk, causal, seed):
    q, k, v = inputs((B, hk * group, sq, 32), (B, hk, sk, 32), (B, hk, sk, 32), dtype, seed)
    check(q, k, v, causal, dtype, backend, config=TILES)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=2)
@given(B=st.integers(1, 2), hk=st.integers(1, 2), group=st.sampled_from([1, 3]), sq=st.integers(1, 40),
       sk=st.integers(1, 40), causal=st.booleans(), seed=st.integers(0, 1000))
def test_dense_matches_float64(backend, B, hk, group, sq, sk, causal, seed):
    dense_case(backend, "f32", B, hk, group, sq, sk, causal, seed)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@settings(max_examples=2)
@given(B=st.integers(1, 2), hk=st.integers(1, 2), group=st.sampled_from([1, 3]), sq=st.integers(1, 40),
       sk=st.integers(1, 40), causal=st.booleans(), seed=st.integers(0, 1000))
def test_dense_half_precision(backend, dtype, B, hk, group, sq, sk, causal, seed):
    dense_case(backend, dtype, B, hk, group, sq, sk, causal, seed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_edge_lengths(backend):
    """seq 1, seq 17 (no tile multiple), seq_q != seq_k both ways; seq_q > seq_k with causal
    leaves the first seq_q - seq_k rows with no key (0 output, 0 gradient, no NaN)."""
    for sq, sk, causal in [(1, 1, True), (17, 17, True), (1, 17, False), (17, 1, True), (17, 40, True),
                           (40, 17, True), (40, 17, False)]:
        q, k, v = inputs((1, 2, sq, 32), (1, 2, sk, 32), (1, 2, sk, 32), "f32", sq * 100 + sk)
        check(q, k, v, causal, "f32", backend, config=TILES)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fully_masked_rows_are_zero(backend):
    q, k, v = inputs((1, 3, 40, 32), (1, 1, 9, 32), (1, 1, 9, 32), "f32", 3)
    out, lse = flash_attention(q, k, v, causal=True, return_lse=True, config=TILES, backend=backend)
    blind = 40 - 9  # rows 0 .. 30 see no key under the bottom-right diagonal
    assert torch.equal(out[:, :, :blind], torch.zeros_like(out[:, :, :blind]))
    assert torch.isinf(lse[:, :, :blind]).all() and torch.isfinite(lse[:, :, blind:]).all()
    out.sum().backward()
    assert torch.equal(q.grad[:, :, :blind], torch.zeros_like(q.grad[:, :, :blind]))
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    s = (q.detach().double() @ k.detach().double().transpose(-1, -2)) / math.sqrt(32)
    keep = torch.arange(9)[None, :] <= torch.arange(40)[:, None] - blind
    want = torch.logsumexp(s.masked_fill(~keep, float("-inf")), -1)[:, :, blind:]
    assert_close(lse[:, :, blind:], want, "f32", reduction_len=9)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("head_dim", [32, pytest.param(64, marks=pytest.mark.slow),
                                      pytest.param(128, marks=pytest.mark.slow),
                                      pytest.param(256, marks=pytest.mark.slow)])
def test_head_dims(backend, head_dim):
    """f16 at each head dim (the default tiles for it), causal, two q heads over one kv head."""
    q, k, v = inputs((1, 2, 9, head_dim), (1, 1, 13, head_dim), (1, 1, 13, head_dim), "f16", head_dim)
    check(q, k, v, True, "f16", backend)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_grouped_query_and_value_head_dim(backend):
    """8 q heads over 2 kv heads (dk, dv summed over each group in one program), v's head dim 48
    unlike q's 32, a non-default scale."""
    q, k, v = inputs((2, 8, 21, 32), (2, 2, 19, 32), (2, 2, 19, 48), "f32", 11)
    check(q, k, v, False, "f32", backend, scale=0.3, config=TILES)


def test_equal_lengths_match_torch_sdpa():
    """Where seq_q == seq_k the diagonal conventions agree: torch's own SDPA is a second reference."""
    q, k, v = (t.detach() for t in inputs((2, 4, 33, 32), (2, 4, 33, 32), (2, 4, 33, 32), "f32", 5))
    for causal in (False, True):
        want = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal)
        assert_close(flash_attention(q, k, v, causal=causal, config=TILES), want, "f32", reduction_len=33)


def packed(lens, heads, dim, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    cu = torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32)
    x = torch.randn(int(cu[-1]), heads, dim, generator=g).to(TORCH_DTYPES[dtype]).requires_grad_()
    return x, cu


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
def test_varlen_with_empty_sequences(backend, causal):
    """Packed batch: sequences with no queries, with no keys, longer queries than keys and the
    reverse; 4 q heads over 2 kv heads. Each sequence against the dense reference on its rows."""
    lens_q, lens_k = [5, 0, 17, 3, 9], [7, 4, 17, 0, 2]
    q, cu_q = packed(lens_q, 4, 32, "f32", 1)
    k, cu_k = packed(lens_k, 2, 32, "f32", 2)
    v, _ = packed(lens_k, 2, 32, "f32", 3)
    out = flash_attention(q, k, v, causal=causal, cu_seqlens_q=cu_q, cu_seqlens_k=cu_k, config=TILES,
                          backend=backend)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    out.backward(grad_out)
    for i in range(len(lens_q)):
        rq, rk = slice(int(cu_q[i]), int(cu_q[i + 1])), slice(int(cu_k[i]), int(cu_k[i + 1]))
        q64, k64, v64 = (t.detach()[r].double().permute(1, 0, 2)[None].requires_grad_()
                         for t, r in ((q, rq), (k, rk), (v, rk)))
        want = reference(q64, k64, v64, causal, 1 / math.sqrt(32))
        assert_close(out[rq].permute(1, 0, 2)[None].detach(), want.detach(), "f32", reduction_len=max(lens_k[i], 1))
        want.backward(grad_out[rq].double().permute(1, 0, 2)[None])
        for got, exp in ((q.grad[rq], q64.grad), (k.grad[rk], k64.grad), (v.grad[rk], v64.grad)):
            assert_close(got.permute(1, 0, 2)[None], exp, "f32", reduction_len=8 * max(lens_q[i] * 2, lens_k[i], 8))


@pytest.mark.parametrize("backend", [b if b == "cpu" else pytest.param(b, marks=pytest.mark.slow) for b in BACKENDS])
def test_gradcheck_float64(backend):
    """torch.autograd.gradcheck on a tiny f64 problem (the kernels accumulate in f64 for f64 inputs):
    causal, grouped heads, seq_q != seq_k, v's head dim unlike q's."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 2, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 1, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, 1, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda q, k, v: flash_attention(q, k, v, causal=True, config=TILES,
                                                                    backend=backend),
                                    (q, k, v), eps=1e-6, atol=1e-7)


def test_no_grad_call_and_empty_shapes():
    q, k, v = inputs((2, 2, 0, 32), (2, 2, 5, 32), (2, 2, 5, 32), "f32", 0)
    assert flash_attention(q, k, v).shape == (2, 2, 0, 32)
    q, k, v = inputs((2, 2, 3, 32), (2, 2, 0, 32), (2, 2, 0, 32), "f32", 0)
    out = flash_attention(q, k, v)
    assert torch.equal(out, torch.zeros_like(out))
    out.sum().backward()
    assert torch.equal(q.grad, torch.zeros_like(q))
    with torch.no_grad():
        q, k, v = inputs((1, 1, 4, 32), (1, 1, 4, 32), (1, 1, 4, 32), "f32", 0)
        assert not flash_attention(q, k, v).requires_grad


@pytest.mark.parametrize("call, message", [
    (lambda q, k, v: flash_attention(q, k[:, :1].expand(1, 1, 5, 32).float(), v[:, :3].contiguous()),
     "must agree in every dimension"),
    (lambda q, k, v: flash_attention(q, k[:, :3].contiguous(), v[:, :3].contiguous()), "kv heads must divide"),
    (lambda q, k, v: flash_attention(q.half(), k, v), "convert one of them"),
    (lambda q, k, v: flash_attention(q.int(), k.int(), v.int()), "supported: float16"),
    (lambda q, k, v: flash_attention(q[0], k, v), "must be 4-D"),
    (lambda q, k, v: flash_attention(torch.zeros(1, 4, 5, 300), torch.zeros(1, 4, 5, 300), torch.zeros(1, 4, 5, 300)),
     "supported: 1 to 256"),
    (lambda q, k, v: flash_attention(q, k, v, causal=1), "`causal` must be a bool"),
    (lambda q, k, v: flash_attention(q, k, v, max_seqlen_q=5), "go with cu_seqlens"),
    (lambda q, k, v: flash_attention(q[0], k[0], v[0], cu_seqlens_q=torch.tensor([0, 4], dtype=torch.int32)),
     "give both"),
    (lambda q, k, v: flash_attention(q[0], k[0], v[0], cu_seqlens_q=torch.tensor([0, 9]),
                                     cu_seqlens_k=torch.tensor([0, 4], dtype=torch.int32)), "1-D int32"),
    (lambda q, k, v: flash_attention(q[0], k[0], v[0], cu_seqlens_q=torch.tensor([0, 9], dtype=torch.int32),
                                     cu_seqlens_k=torch.tensor([0, 4], dtype=torch.int32)), "at most 4"),
    (lambda q, k, v: flash_attention(q[0], k[0], v[0], cu_seqlens_q=torch.tensor([0, 3, 2], dtype=torch.int32),
                                     cu_seqlens_k=torch.tensor([0, 1, 2], dtype=torch.int32)), "must rise"),
    (lambda q, k, v: flash_attention(q[0], k[0], v[0], cu_seqlens_q=torch.tensor([0, 4], dtype=torch.int32),
                                     cu_seqlens_k=torch.tensor([0, 4], dtype=torch.int32), max_seqlen_q=2),
     "longest sequence"),
])
def test_bad_arguments_are_located(call, message):
    q, k, v = (torch.zeros(1, 4, 5, 32) for _ in range(3))
    with pytest.raises(LaunchError, match=message) as info:
        call(q, k, v)
    assert __file__ in str(info.value)  # the caller's line, not the stdlib's


def test_docs_example_runs():
    """The example of the flash attention section of docs/stdlib.md runs as written and is right."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "stdlib.md").read_text()
    section = text[text.index("## Flash attention"):]
    code = section[section.index("```python\n") + 10:]
    code = code[:code.index("```")]
    scope: dict = {}
    exec(compile(code, "docs/stdlib.md", "exec"), scope)
    q, k, v, o = (scope[n].detach() for n in ("q", "k", "v", "o"))
    assert_close(o, reference(q.double(), k.double(), v.double(), True, 32 ** -0.5), "f32", reduction_len=16)
    assert scope["q"].grad is not None and scope["op"].shape == (16, 8, 32) and scope["lse"].shape == (8, 16)
    cu, qp, kp, vp, op = (scope[n] for n in ("cu", "qp", "kp", "vp", "op"))
    for b in range(3):
        r = slice(int(cu[b]), int(cu[b + 1]))
        want = reference(*(t[r].double().permute(1, 0, 2)[None] for t in (qp, kp, vp)), False, 32 ** -0.5)
        assert_close(op[r].permute(1, 0, 2)[None], want, "f32", reduction_len=16)


def kernel_cases():
    from tilelang.frontend.lower import ArgSpec
    from tilelang.stdlib import attention_kernels as ak

    t = lambda dt, rank: ArgSpec("tensor", dt, rank)  # noqa: E731
    scal = {"scale": ArgSpec("scalar", "f32"), "causal": ArgSpec("scalar", "bool")}
    seq = {"cu_q": t("i32", 1), "cu_k": t("i32", 1)}
    for varlen in (False, True):
        flag = {"varlen": ArgSpec("const", "bool", 0, varlen)}
        yield ak.flash_fwd_kernel, {**{n: t("f16", 4) for n in ("q", "k", "v", "o")}, "lse": t("f32", 3), **seq,
                                    "grid_q": t("i8", 2), **scal, **flag}
        yield ak.flash_bwd_preprocess_kernel, {"o": t("f16", 4), "do": t("f16", 4), "delta": t("f32", 3),
                                               "cu_q": t("i32", 1), "grid_q": t("i8", 2), **flag}
        yield ak.flash_bwd_dkdv_kernel, {**{n: t("bf16", 4) for n in ("q", "k", "v", "do", "dk", "dv")},
                                         "lse": t("f32", 3), "delta": t("f32", 3), **seq, "grid_k": t("i8", 2),
                                         **scal, **flag}
        yield ak.flash_bwd_dq_kernel, {**{n: t("f16", 4) for n in ("q", "k", "v", "do", "dq")}, "lse": t("f32", 3),
                                       "delta": t("f32", 3), **seq, "grid_q": t("i8", 2), **scal, **flag}


def head_dims(kernel, d):
    return {"DV": d} if kernel.name == "flash_bwd_preprocess_kernel" else {"D": d, "DV": d}


@pytest.mark.parametrize("case", range(8))
def test_kernels_round_trip_every_pass(case):
    """Each kernel's IR after every pass prints, parses back equal, and the soundness step accepts it."""
    from tilelang.ir.parser import parse
    from tilelang.ir.printer import print_kernel
    from tilelang.passes import PassContext, run_pipeline

    kernel, sig = list(kernel_cases())[case]
    steps = []
    config = tl.Config(BLOCK_M=16) if kernel.name == "flash_bwd_preprocess_kernel" else TILES
    run_pipeline(kernel.lower(sig, head_dims(kernel, 64)), PassContext(config=config, pow2_tiles=True),
                 lambda name, k: steps.append(k))
    for k in steps:
        text = print_kernel(k)
        assert parse(text) == k, text


@pytest.mark.slow
@pytest.mark.parametrize("case", [0, 2, 3, 4])
def test_kernels_compile_for_sm90(tmp_path, case):
    """Triton's GPU compiler (not only its interpreter) accepts the kernels at head dim 128 with the
    GPU default tiles: a real cubin for sm_90, no GPU needed (dense forward, dk/dv, dq; packed
    forward)."""
    from tilelang import backend as backends
    from tilelang.passes import PassContext, run_pipeline

    kernel, sig = list(kernel_cases())[case]
    config = tl.Config(BLOCK_M=128, BLOCK_N=64, num_warps=8, num_stages=2)
    if kernel.name == "flash_bwd_preprocess_kernel":
        config = tl.Config(BLOCK_M=128, num_warps=8)
    final = run_pipeline(kernel.lower(sig, head_dims(kernel, 128)),
                         PassContext(config=config, target="triton", pow2_tiles=True))
    info = backends.get("triton").write_aot(final, "triton-cuda:sm_90", tmp_path, "attention")
    data = (tmp_path / info["files"][1]).read_bytes()
    assert data[:4] == b"\x7fELF" and info["symbol"].encode() in data


def test_gpu_benchmark_checks_run_on_cpu():
    """benchmarks/gpu_stdlib_flash_attention.py imports, and the correctness check it runs before
    timing (its --dry-run) passes on CPU tensors."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_stdlib_flash_attention.py"
    spec = importlib.util.spec_from_file_location("gpu_stdlib_flash_attention", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for causal in (False, True):
        assert bench.check(*bench.make(1, 2, 17, 32, torch.float32, "cpu"), causal, "cpu", TILES) < 1e-5


@pytest.mark.slow
def test_tuning_stores_winners_that_calls_use(tmp_path, monkeypatch):
    """tune_flash_attention sweeps the forward, dk/dv and dq kernels and stores each winner; a later
    call without config= runs with the stored winner (and is still right)."""
    from tilelang.autotune import TuningDB
    from tilelang.stdlib import attention_kernels as ak
    from tilelang.stdlib import tune_flash_attention

    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "tuning.sqlite3"))
    db = TuningDB(tmp_path / "tuning.sqlite3")
    q, k, v = inputs((1, 2, 20, 32), (1, 1, 20, 32), (1, 1, 20, 32), "f32", 9)
    configs = [tl.Config(BLOCK_M=16, BLOCK_N=16), tl.Config(BLOCK_M=16, BLOCK_N=32)]
    results = tune_flash_attention(q.detach(), k.detach(), v.detach(), causal=True, configs=configs,
                                   backend="reference", db=db)
    assert set(results) == {"flash_fwd_kernel", "flash_bwd_dkdv_kernel", "flash_bwd_dq_kernel"}
    assert all(r.best in configs for r in results.values())
    check(q, k, v, True, "f32", "reference")  # no config=: the database's winners
    used = {key[2] for key in ak.flash_fwd_kernel._compiled if isinstance(key, tuple) and len(key) > 2}
    assert results["flash_fwd_kernel"].best in used


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_inputs_and_partial_gradients(backend):
    """[batch, seq, heads, dim] tensors passed as `.transpose(1, 2)` views (no copy), and gradients
    asked for q only, then for k and v only."""
    g = torch.Generator().manual_seed(21)
    q, k, v = (torch.randn(2, s, h, 32, generator=g).transpose(1, 2) for s, h in ((19, 4), (23, 2), (23, 2)))
    grad = torch.randn(2, 4, 19, 32, generator=g)
    leaves64 = [t.double().requires_grad_() for t in (q, k, v)]
    want = reference(*leaves64, True, 32 ** -0.5)
    want.backward(grad.double())
    for wanted in ((True, False, False), (False, True, True)):
        leaves = [t.clone().requires_grad_(w) for t, w in zip((q, k, v), wanted)]
        out = flash_attention(*leaves, causal=True, config=TILES, backend=backend)
        assert_close(out.detach(), want.detach(), "f32", reduction_len=23)
        out.backward(grad)
        for t, w, t64 in zip(leaves, wanted, leaves64):
            assert (t.grad is not None) == w
            if w:
                assert_close(t.grad, t64.grad, "f32", reduction_len=8 * 23)
