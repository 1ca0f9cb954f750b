"""tilelang.stdlib.moe and grouped_matmul on every backend here, against float64 torch loops over experts."""

from __future__ import annotations

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang import backend as backends
from tilelang.errors import LaunchError
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir
from tilelang.ir.parser import parse
from tilelang.ir.printer import print_kernel
from tilelang.passes import PassContext, run_pipeline
from tilelang.stdlib import grouped_matmul, moe
from tilelang.stdlib import moe_kernels as MK

from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned

moe_module = importlib.import_module("tilelang.stdlib.moe")


@pytest.fixture(autouse=True)
def poison_buffers(monkeypatch):
    """Every buffer moe() / grouped_matmul() allocate, outputs and intermediates, starts as NaN (or
    an integer sentinel), so a row, slot or count a kernel forgets to write shows."""
    monkeypatch.setattr(moe_module, "_alloc", lambda shape, dtype, device: poisoned(shape, dtype, device))


# ---- float64 references -----------------------------------------------------------------------------


def ref_routing(logits, top_k):
    """(sel [T, E] bool, weight [T, E] f64): softmax, top_k, renormalized; weight on every expert."""
    p = logits.double().softmax(-1)
    top, idx = p.topk(top_k, dim=-1)
    sel = torch.zeros_like(p, dtype=torch.bool).scatter_(1, idx, True)
    return sel, p / top.sum(-1, keepdim=True)


def ref_token_rounding(sel, weight, block_m, mode):
    """SonicMoE rounding: per expert, rank tokens (routed first, then weight descending, then token
    ascending) and keep the first `target` = routed count rounded to a multiple of block_m (<= T)."""
    T, E = sel.shape
    out = sel.clone()
    for e in range(E):
        c = int(sel[:, e].sum())
        target = {"nearest": (c + block_m // 2) // block_m * block_m, "up": -(-c // block_m) * block_m,
                  "down": c // block_m * block_m}[mode]
        order = sorted(range(T), key=lambda t: (not bool(sel[t, e]), -float(weight[t, e]), t))
        keep = set(order[:min(target, T)])
        out[:, e] = torch.tensor([t in keep for t in range(T)])
    return out


def ref_moe(x, sel, weight, w_gate_up, w_down):
    """A float64 loop over experts: out[t] += weight[t, e] * (silu(x W_gate) * x W_up) W_down."""
    x, wgu, wd = x.double(), w_gate_up.double(), w_down.double()
    I = wd.shape[1]
    out = torch.zeros_like(x)
    for e in range(wgu.shape[0]):
        tok = sel[:, e].nonzero()[:, 0]
        if len(tok):
            h = x[tok] @ wgu[e]
            y = (torch.nn.functional.silu(h[:, :I]) * h[:, I:]) @ wd[e]
            out.index_add_(0, tok, y * weight[tok, e][:, None])
    return out


def make_inputs(T, H, I, E, dtype, seed, logits_dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    dt = TORCH_DTYPES[dtype]
    x = torch.randn(T, H, generator=g).to(dt)
    logits = (2 * torch.randn(T, E, generator=g)).to(logits_dtype)
    w_gate_up = (torch.randn(E, H, 2 * I, generator=g) / H ** 0.5).to(dt)
    w_down = (torch.randn(E, I, H, generator=g) / I ** 0.5).to(dt)
    return x, logits, w_gate_up, w_down


def tolerance_len(dtype, H, I):
    # f32: accumulation over H then I. f16/bf16: the SwiGLU activations and each expert's output
    # are stored in the input dtype (as the peers do) before the f32 combine, so an output carries
    # about three roundings of the largest expert output (|out| is a weighted mean of those):
    # 3 * 2^-8 (bf16) / 2^-11 (f16) of the scale, in units of the 2e-6 atol.
    return {"f32": H + I, "f16": 1000, "bf16": 6000}[dtype]


# ---- the layer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@settings(max_examples=2)
@given(T=st.integers(1, 45), H=st.integers(1, 24), I=st.integers(1, 20), seed=st.integers(0, 10_000))
def test_moe_matches_expert_loop(backend, dtype, T, H, I, seed):
    E, top_k = 5, 2
    x, logits, wgu, wd = make_inputs(T, H, I, E, dtype, seed)
    out = moe(x, logits, wgu, wd, top_k, block_m=8, backend=backend)
    sel, weight = ref_routing(logits, top_k)
    assert out.dtype == x.dtype and out.shape == x.shape
    assert_close(out, ref_moe(x, sel, weight, wgu, wd), dtype, reduction_len=tolerance_len(dtype, H, I))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("E, top_k", [(1, 1), (6, 1), pytest.param(6, 6, marks=pytest.mark.slow),
                                      pytest.param(7, 3, marks=pytest.mark.slow)])
def test_moe_edge_routing(backend, E, top_k):
    """E=1, top_k=1, top_k=E, and experts that get no token at all (the router favours a few)."""
    T, H, I = 21, 10, 6
    x, logits, wgu, wd = make_inputs(T, H, I, E, "f32", seed=E * 10 + top_k)
    logits[:, : E // 2] -= 30.0  # the first half of the experts is never in anyone's top_k < E - E//2
    out, info = moe(x, logits, wgu, wd, top_k, block_m=4, backend=backend, return_info=True)
    sel, weight = ref_routing(logits, top_k)
    assert_close(out, ref_moe(x, sel, weight, wgu, wd), "f32", reduction_len=H + I)
    assert list(info.counts) == sel.sum(0).tolist() == list(info.topk_counts)
    if top_k <= E - E // 2 and E > 1:
        assert info.counts[0] == 0
    assert info.padded_rows == sum(-(-c // 4) * 4 - c for c in info.counts)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["nearest", pytest.param("up", marks=pytest.mark.slow),
                                  pytest.param("down", marks=pytest.mark.slow)])
def test_token_rounding(backend, mode):
    T, H, I, E, top_k, bm = 43, 9, 7, 5, 2, 8
    x, logits, wgu, wd = make_inputs(T, H, I, E, "f32", seed=len(mode))
    logits[:, 0] -= 30.0  # expert 0 gets no token: rounding keeps it empty, whatever the mode
    out, info = moe(x, logits, wgu, wd, top_k, token_rounding=mode, block_m=bm, backend=backend,
                    return_info=True)
    sel, weight = ref_routing(logits, top_k)
    rounded = ref_token_rounding(sel, weight, bm, mode)
    assert list(info.counts) == rounded.sum(0).tolist()
    assert all(c % bm == 0 or c == T for c in info.counts) and info.counts[0] == 0
    assert list(info.topk_counts) == sel.sum(0).tolist()
    assert info.added_pairs == int((rounded & ~sel).sum()) and info.dropped_pairs == int((sel & ~rounded).sum())
    assert info.padding_saved == info.topk_padded_rows - info.padded_rows >= 0
    if mode != "down":
        assert info.padded_rows == 0 or T % bm  # only the cap at T leaves a partial tile
    assert_close(out, ref_moe(x, rounded, weight, wgu, wd), "f32", reduction_len=H + I)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_token_rounding_ties_and_low_precision_logits(backend):
    """bf16 logits with many exactly equal weights across tokens: ties go to the lower token."""
    T, H, I, E, top_k, bm = 30, 8, 5, 4, 1, 4
    x, _, wgu, wd = make_inputs(T, H, I, E, "f32", seed=3)
    g = torch.Generator().manual_seed(5)
    logits = torch.stack([torch.randperm(E, generator=g) for _ in range(T)]).to(torch.bfloat16) * 0.5
    out, info = moe(x, logits, wgu, wd, top_k, token_rounding="up", block_m=bm, backend=backend,
                    return_info=True)
    sel, weight = ref_routing(logits, top_k)
    rounded = ref_token_rounding(sel, weight.float().double(), bm, "up")  # the kernels' f32 weights
    assert list(info.counts) == rounded.sum(0).tolist()
    assert_close(out, ref_moe(x, rounded, weight, wgu, wd), "f32", reduction_len=H + I)


@pytest.mark.parametrize("backend", BACKENDS)
def test_moe_is_deterministic(backend):
    """Two runs give the same bits (no atomics; each output element is one sum in a fixed order)."""
    T, H, I, E = 43, 12, 9, 5  # the shapes class and Config of the tests above: nothing new to compile
    x, logits, wgu, wd = make_inputs(T, H, I, E, "bf16", seed=11)
    runs = [moe(x, logits, wgu, wd, 2, token_rounding=r, block_m=8, backend=backend)
            for r in (None, None, "nearest", "nearest")]
    assert torch.equal(runs[0].view(torch.int16), runs[1].view(torch.int16))
    assert torch.equal(runs[2].view(torch.int16), runs[3].view(torch.int16))


def test_moe_empty_and_errors():
    x, logits, wgu, wd = make_inputs(5, 4, 3, 2, "f32", seed=0)
    assert moe(x[:0], logits[:0], wgu, wd, 1).shape == (0, 4)
    bad = [
        (dict(x=x.double()), "dtype"),
        (dict(w_down=wd.half()), "w_down is torch.float16"),
        (dict(logits=logits[:3]), "3 rows but x has 5"),
        (dict(w_gate_up=wgu[:, :, :5]), "[E, H, 2*I]"),
        (dict(w_down=wd[:, :2]), "w_down must be [E, I, H]"),
        (dict(w_gate_up=wgu[:1]), "2 experts but w_gate_up has 1"),
        (dict(top_k=3), "top_k must be an int in [1, 2]"),
        (dict(top_k=0), "top_k"),
        (dict(token_rounding="sideways"), "token_rounding"),
        (dict(block_m=12), "power of two"),
        (dict(x=x[0]), "2-D"),
    ]
    for change, message in bad:
        args = dict(x=x, logits=logits, w_gate_up=wgu, w_down=wd, top_k=1)
        args.update(change)
        kw = {k: args.pop(k) for k in ("token_rounding", "block_m") if k in args}
        with pytest.raises(LaunchError, match=None) as err:
            moe(args["x"], args["logits"], args["w_gate_up"], args["w_down"], args["top_k"], **kw)
        assert message in str(err.value), (change, str(err.value))


@pytest.mark.slow
def test_tune_moe_stores_winners_that_later_calls_use(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "tuning.sqlite3"))
    from tilelang.autotune import TuningDB

    x, logits, wgu, wd = make_inputs(43, 12, 9, 5, "f32", seed=2)
    space = moe_module.GEMM_TUNING_SPACE[:2]
    first, second = moe_module.tune_moe(x, logits, wgu, wd, 2, block_m=8, configs=space, workers=1, backend="cpu")
    for result in (first, second):
        assert result.best in space and all(t.status == "ok" for t in result.trials)
        assert list(TuningDB().best_configs(result.key, "cpu"))
    out = moe(x, logits, wgu, wd, 2, block_m=8, backend="cpu")  # looks the winners up
    sel, weight = ref_routing(logits, 2)
    assert_close(out, ref_moe(x, sel, weight, wgu, wd), "f32", reduction_len=21)


# ---- grouped_matmul ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@settings(max_examples=3)
@given(sizes=st.lists(st.integers(0, 23), min_size=1, max_size=5), K=st.integers(1, 30), N=st.integers(1, 30),
       seed=st.integers(0, 10_000))
def test_grouped_matmul(backend, dtype, sizes, K, N, seed):
    g = torch.Generator().manual_seed(seed)
    dt = TORCH_DTYPES[dtype]
    M = sum(sizes)
    a = torch.randn(M, K, generator=g).to(dt)
    b = torch.randn(len(sizes), K, N, generator=g).to(dt)
    out = grouped_matmul(a, b, torch.tensor(sizes), block_m=8, backend=backend)
    groups = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    expected = torch.einsum("mk,mkn->mn", a.double(), b.double()[groups]) if M else torch.zeros(0, N).double()
    assert out.shape == (M, N)
    assert_close(out, expected, dtype, reduction_len=K)


def test_grouped_matmul_errors():
    a, b = torch.randn(6, 3), torch.randn(2, 3, 4)
    for sizes, message in [([6], "1 entries but b has 2"), ([4, 3], "sum to a's 6 rows"), ([7, -1], "non-negative"),
                           (torch.tensor([3.0, 3.0]), "integer tensor"), ("ab", "list of ints")]:
        with pytest.raises(LaunchError) as err:
            grouped_matmul(a, b, sizes)
        assert message in str(err.value)
    with pytest.raises(LaunchError, match="inner dimensions"):
        grouped_matmul(a, torch.randn(2, 4, 4), [3, 3])
    with pytest.raises(LaunchError, match="a is torch.float32 but b is torch.float16"):
        grouped_matmul(a, b.half(), [3, 3])
    assert torch.equal(grouped_matmul(torch.randn(4, 0), torch.randn(2, 0, 5), [1, 3]), torch.zeros(4, 5))


# ---- the kernels through every pass, and to GPU code ------------------------------------------------


def _t(dt, rank):
    return ArgSpec("tensor", dt, rank)


def _c(v):
    return ArgSpec("const", type(v).__name__, 0, v)


I32_1, I32_2 = _t("i32", 1), _t("i32", 2)
TILE_MAP = {"tile_expert": I32_1, "tile_start": I32_1, "tile_end": I32_1}
KERNELS = [
    (MK.moe_route_kernel, {"logits": _t("bf16", 2), "wmat": _t("f32", 2), "sel": I32_2, "top_k": _c(2)}, {"E": 8}),
    (MK.expert_counts_kernel, {"sel": I32_2, "counts": I32_1}, None),
    (MK.token_rounding_kernel, {"wmat": _t("f32", 2), "sel": I32_2, "counts": I32_1, "sel_out": I32_2,
                                "counts_out": I32_1, "BM": _c(64), "mode": _c(0)}, None),
    (MK.tile_map_kernel, {"counts": I32_1, **TILE_MAP, "BM": _c(64)}, None),
    (MK.permute_kernel, {"sel": I32_2, "counts": I32_1, "row_token": I32_1, "pair_row": I32_2}, None),
    (MK.token_lists_kernel, {"sel": I32_2, "pair_row": I32_2, "wmat": _t("f32", 2), "tok_rows": I32_1,
                             "tok_w": _t("f32", 1), "tok_count": I32_1}, {"E": 8}),
    (MK.gate_up_swiglu_kernel, {"x": _t("bf16", 2), "row_token": I32_1, "w_gate": _t("bf16", 3),
                                "w_up": _t("bf16", 3), **TILE_MAP, "act": _t("bf16", 2), "BM": _c(64)}, None),
    (MK.grouped_gemm_kernel, {"a": _t("f16", 2), "b": _t("f16", 3), **TILE_MAP, "out": _t("f16", 2),
                              "BM": _c(64)}, None),
    (MK.max_count_kernel, {"tok_count": I32_1, "most": I32_1}, None),
    (MK.combine_kernel, {"y": _t("bf16", 2), "tok_rows": I32_2, "tok_w": _t("f32", 2), "tok_count": I32_1,
                         "most": I32_1, "out": _t("bf16", 2)}, None),
]
KERNEL_IDS = [k.name for k, _, _ in KERNELS]


def test_every_moe_kernel_is_listed():
    assert sorted(KERNEL_IDS) == sorted(n for n, v in vars(MK).items() if isinstance(v, tl.TileKernel))


@pytest.mark.parametrize("kernel,sig,fixed", KERNELS, ids=KERNEL_IDS)
def test_round_trip_every_pass(kernel, sig, fixed):
    steps = []
    run_pipeline(kernel.lower(sig, fixed), PassContext(config=tl.Config(), pow2_tiles=True),
                 lambda name, k: steps.append(k))
    assert steps
    for k in steps:
        text = print_kernel(k)
        assert parse(text) == k, text


GPU_BUILDS = [("triton-cuda:sm_90", k) for k in KERNELS] + [
    ("triton-hip:gfx942", k) for k in KERNELS if k[0] in (MK.gate_up_swiglu_kernel, MK.combine_kernel)]


@pytest.mark.slow
@pytest.mark.parametrize("target,case", GPU_BUILDS, ids=[f"{t}-{k[0].name}" for t, k in GPU_BUILDS])
def test_kernels_compile_for_gpu(tmp_path, target, case):
    """Triton's interpreter accepts what its GPU compiler may not: build real cubin / hsaco, no GPU needed."""
    kernel, sig, fixed = case
    be = backends.get("triton")
    final = run_pipeline(kernel.lower(sig, fixed), PassContext(config=tl.Config(), target="triton", pow2_tiles=True))
    info = be.write_aot(final, target, tmp_path, "test")
    data = (tmp_path / info["files"][1]).read_bytes()
    assert data[:4] == b"\x7fELF" and info["symbol"].encode() in data


@pytest.mark.slow
def test_gpu_benchmark_dry_run():
    """benchmarks/gpu_stdlib_moe.py cannot time anything here (no GPU), but its --dry-run checks its code
    paths against the torch loop on CPU."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_stdlib_moe.py"
    r = subprocess.run([sys.executable, str(script), "--dry-run"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "dry run passed" in r.stdout
