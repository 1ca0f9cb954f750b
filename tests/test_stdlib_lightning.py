"""stdlib.lightning_attention: forward and backward against a naive float64 recurrence, every backend."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given, settings

import tilelang as tl
from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned
from tilelang.errors import LaunchError
from tilelang.stdlib import lightning

# Different rates per head: no decay (lambda = 1), slow, fast, and one that kills the state at once.
RATES = [0.0, 0.05, 0.7, 30.0]
SMALL = tl.Config(BLOCK_N=16, BLOCK_E=8)  # sequences and value dims below are not multiples of these


def recurrence(q, k, v, decay):
    """S_t = lambda S_{t-1} + k_t^T v_t, o_t = q_t S_t, one step at a time in float64 (differentiable)."""
    lam = torch.exp(-decay.double())[None, :, None, None]
    state = torch.zeros(*q.shape[:2], q.shape[-1], v.shape[-1], dtype=torch.float64)
    outs = []
    for t in range(q.shape[2]):
        state = lam * state + k[:, :, t, :, None] * v[:, :, t, None, :]
        outs.append(torch.einsum("zhd,zhde->zhe", q[:, :, t], state))
    return torch.stack(outs, 2)


@pytest.fixture(scope="module", autouse=True)
def poisoned_outputs():
    """Every output buffer the wrapper allocates starts as NaN, so an element a kernel skips shows."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lightning, "_new_output", lambda like: poisoned(like.shape, like.dtype, like.device))
        yield


def inputs(Z, H, S, D, E, dtype, seed, strided=False):
    g = torch.Generator().manual_seed(seed)

    def rand(last):
        if strided:  # the common [batch, seq, heads, dim] layout, seen through a transpose
            return torch.randn(Z, S, H, last, generator=g).to(TORCH_DTYPES[dtype]).transpose(1, 2)
        return torch.randn(Z, H, S, last, generator=g).to(TORCH_DTYPES[dtype])

    q, k, v = rand(D), rand(D), rand(E)
    decay = torch.tensor([RATES[(h + seed) % len(RATES)] for h in range(H)])
    grad_o = rand(E)
    return q, k, v, decay, grad_o


def check_forward_backward(q, k, v, decay, grad_o, dtype, backend, config):
    leaves = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    o = lightning.lightning_attention(*leaves, decay, config=config, backend=backend)
    grads = torch.autograd.grad(o, leaves, grad_o)
    ref_leaves = [t.detach().double().requires_grad_() for t in (q, k, v)]
    ref = recurrence(*ref_leaves, decay)
    ref_grads = torch.autograd.grad(ref, ref_leaves, grad_o.double())
    S, D, E = q.shape[2], q.shape[3], v.shape[3]
    length = S * (D + E)
    assert o.dtype == q.dtype and o.shape == v.shape
    assert_close(o, ref.detach(), dtype, length)
    for name, got, want in zip("qkv", grads, ref_grads):
        assert got.shape == want.shape, name
        assert_close(got, want, dtype, length)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=2)
@given(Z=st.integers(1, 2), H=st.integers(1, 4), S=st.sampled_from([2, 17, 33, 50]),
       DE=st.sampled_from([(8, 12), (20, 8), (16, 16)]), strided=st.booleans(), seed=st.integers(0, 2**16))
def test_matches_recurrence(backend, dtype, Z, H, S, DE, strided, seed):
    q, k, v, decay, grad_o = inputs(Z, H, S, *DE, dtype, seed, strided)
    check_forward_backward(q, k, v, decay, grad_o, dtype, backend, SMALL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seq_one_and_one_block(backend):
    """seq 1 (only the intra-block diagonal), and a sequence of exactly one block (no carried state)."""
    for S in (1, 16):
        check_forward_backward(*inputs(1, 3, S, 8, 8, "f32", S), "f32", backend, SMALL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_config(backend):
    """No config=: the backend's (or tuning database's) tiles, with a sequence past one default block."""
    check_forward_backward(*inputs(1, 2, 300, 16, 24, "f32", 3), "f32", backend, None)


def test_no_grad_path_and_empty():
    q, k, v, decay, _ = inputs(2, 2, 20, 8, 8, "f32", 5)
    with torch.no_grad():
        o = lightning.lightning_attention(q, k, v, decay, config=SMALL)
    assert_close(o, recurrence(q.double(), k.double(), v.double(), decay), "f32", 20 * 16)
    empty = lightning.lightning_attention(q[:, :, :0], k[:, :, :0], v[:, :, :0], decay)
    assert empty.shape == (2, 2, 0, 8)


def test_state_does_not_overflow_with_a_large_rate():
    """lambda^(r-c) above the diagonal is masked, not computed: a huge rate gives o_t = (q_t . k_t) v_t."""
    q, k, v, _, _ = inputs(1, 1, 40, 8, 8, "f32", 9)
    o = lightning.lightning_attention(q, k, v, torch.tensor([1e4]), config=SMALL)
    want = (q.double() * k.double()).sum(-1, keepdim=True) * v.double()
    assert_close(o, want, "f32", 8)


def _call(**change):
    q, k, v, decay, _ = inputs(1, 2, 5, 4, 4, "f32", 0)
    args = dict(q=q, k=k, v=v, decay=decay)
    args.update(change)
    return lightning.lightning_attention(args["q"], args["k"], args["v"], args["decay"])


@pytest.mark.parametrize("change, message", [
    (dict(decay=torch.tensor([0.1, 0.2], requires_grad=True)), "does not get a gradient"),
    (dict(decay=torch.tensor([0.1, -0.2])), "must be finite and >= 0"),
    (dict(decay=torch.tensor([0.1, float("nan")])), "must be finite and >= 0.*nan for head 1"),
    (dict(decay=torch.tensor([float("inf"), 0.0])), "must be finite and >= 0.*inf for head 0"),
    (dict(decay=torch.tensor([0.1])), "one rate per head"),
    (dict(decay=torch.tensor([1, 2])), "float tensor"),
    (dict(q=torch.randn(2, 5, 4)), "must be 4-D"),
    (dict(k=torch.randn(1, 2, 6, 4)), "q and k must have the same shape"),
    (dict(v=torch.randn(1, 2, 6, 4)), "v must be"),
    (dict(v=torch.randn(1, 2, 5, 4, dtype=torch.float64)), "dtype torch.float64"),
    (dict(q=torch.randn(1, 2, 5, 4).half()), "one dtype"),
    (dict(q=[1.0]), "must be a torch tensor"),
])
def test_refuses_bad_input_at_the_callers_line(change, message):
    with pytest.raises(LaunchError, match=message) as info:
        _call(**change)
    assert info.value.loc is not None and info.value.loc.file == __file__


@pytest.mark.parametrize("reverse", [False, True])
def test_ir_round_trips_through_every_pass(reverse):
    """The kernel's IR after each pass prints and parses back equal, and the soundness step accepts it."""
    from tilelang.frontend.lower import ArgSpec
    from tilelang.ir.parser import parse
    from tilelang.ir.printer import print_kernel
    from tilelang.passes import PassContext, run_pipeline

    sig = {"q": ArgSpec("tensor", "bf16", 4), "k": ArgSpec("tensor", "bf16", 4), "v": ArgSpec("tensor", "bf16", 4),
           "decay": ArgSpec("tensor", "f32", 1), "o": ArgSpec("tensor", "bf16", 4),
           "reverse": ArgSpec("const", "bool", 0, reverse)}
    steps = []
    run_pipeline(lightning.lightning_kernel.lower(sig, {"D": 24, "E": 40}),
                 PassContext(config=tl.Config(BLOCK_N=16, BLOCK_E=32), pow2_tiles=True),
                 lambda name, k: steps.append(k))
    assert steps
    for k in steps:
        text = print_kernel(k)
        assert parse(text) == k, text


def test_only_the_gradients_asked_for():
    """Only v requires grad: one backward launch, and q, k get no gradient."""
    q, k, v, decay, grad_o = inputs(1, 2, 20, 8, 8, "f32", 4)
    v = v.clone().requires_grad_()
    o = lightning.lightning_attention(q, k, v, decay, config=SMALL)
    (dv,) = torch.autograd.grad(o, [v], grad_o)
    vd = v.detach().double().requires_grad_()
    (want,) = torch.autograd.grad(recurrence(q.double(), k.double(), vd, decay), [vd], grad_o.double())
    assert_close(dv, want, "f32", 20 * 16)
    assert q.grad is None and k.grad is None


def test_a_tuned_winner_is_used(tmp_path, monkeypatch):
    """A winner stored by `tune(lightning_kernel, ..., configs=...)` is what a call without config= runs."""
    from tilelang.autotune import hook
    from tilelang.autotune.sweep import tune

    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "tuning.sqlite3"))
    q, k, v, decay, _ = inputs(1, 2, 40, 8, 8, "f32", 6)
    out = torch.empty_like(v)
    assert lightning._default_config(q, k, v, decay, out, False, "reference") == tl.Config(BLOCK_N=64, BLOCK_E=8)
    configs = [tl.Config(BLOCK_N=16, BLOCK_E=8), tl.Config(BLOCK_N=8, BLOCK_E=8)]
    result = tune(lightning.lightning_kernel, q, k, v, decay, out, False, configs=configs, backend="reference",
                  budget=60)
    assert result.best in configs
    # the hook rechecks whether a database file exists at most once a second: make it look now
    monkeypatch.setattr(hook, "_db_seen", [False, 0.0])
    assert lightning._default_config(q, k, v, decay, out, False, "reference") == result.best


def test_double_backward_is_refused():
    q, k, v, decay, grad_o = inputs(1, 1, 8, 4, 4, "f32", 7)
    v = v.clone().requires_grad_()
    (dv,) = torch.autograd.grad(lightning.lightning_attention(q, k, v, decay, config=SMALL), [v], grad_o,
                                create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|double backward|does not require grad"):
        torch.autograd.grad(dv.sum(), [v])
