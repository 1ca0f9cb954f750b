"""stdlib conv2d (channel-last implicit GEMM and fused Winograd F(m,3) with searched points) against
torch's conv2d in float64, on every backend, with every buffer conv2d allocates poisoned."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.stdlib import conv as conv_module
from tilelang.stdlib import conv_tune
from tilelang.stdlib.conv import conv2d

from conftest import BACKENDS

DTYPES = {"f32": torch.float32, "f16": torch.float16}
# Max |error| / max |reference|, about 3-10x what was measured (docs/stdlib.md, accuracy table).
REL_TOL = {("f32", None): 1e-5, ("f32", 2): 1e-5, ("f32", 4): 3e-5, ("f32", 6): 3e-4,
           ("f16", None): 3e-3, ("f16", 2): 4e-3, ("f16", 4): 1.5e-2, ("f16", 6): 6e-2}


# f16 through Triton's interpreter is slow and takes the same code path as f32 there: marked slow.
BACKEND_DTYPES = [pytest.param(b, d, marks=[pytest.mark.slow] if (b, d) == ("triton", "f16") else [])
                  for b in BACKENDS for d in ("f32", "f16")]


@pytest.fixture(autouse=True)
def poison_every_buffer(monkeypatch):
    """Outputs and intermediates start as NaN: any element a kernel fails to write shows up."""
    def alloc(shape, dtype, device):
        return torch.full(shape, float("nan"), dtype=dtype, device=device)

    monkeypatch.setattr(conv_module, "_alloc", alloc)


def rel_error(y, ref):
    assert y.shape == ref.shape
    assert not torch.isnan(y).any(), "output has NaN: some elements were not written"
    return (y.double() - ref).abs().max().item() / max(ref.abs().max().item(), 1e-6)


def check(x, w, padding, stride, algorithm, backend, dtype, m=None):
    y = conv2d(x, w, padding=padding, stride=stride, algorithm=algorithm, m=m, backend=backend)
    assert y.dtype == x.dtype and y.is_contiguous()
    ref = F.conv2d(x.double(), w.double(), padding=padding, stride=stride)
    err = rel_error(y, ref)
    key = (dtype, None if algorithm == "direct" else (m or conv_module.DEFAULT_M[str(x.dtype)[6:]]))
    assert err < REL_TOL[key], f"relative error {err:.2e}"


def inputs(N, C, K, H, W, kh, kw, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(N, C, H, W, generator=g).to(DTYPES[dtype]),
            torch.randn(K, C, kh, kw, generator=g).to(DTYPES[dtype]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@pytest.mark.parametrize("algorithm", ["winograd", "direct"])
@settings(max_examples=3)
@given(N=st.integers(1, 2), C=st.integers(1, 7), K=st.integers(1, 7), H=st.integers(3, 15), W=st.integers(3, 15),
       padding=st.sampled_from([0, 1, 2]), seed=st.integers(0, 1000))
def test_conv3x3_random_shapes(backend, dtype, algorithm, N, C, K, H, W, padding, seed):
    x, w = inputs(N, C, K, H, W, 3, 3, dtype, seed)
    check(x, w, padding, 1, algorithm, backend, dtype)


@pytest.mark.parametrize("backend,dtype", BACKEND_DTYPES)
@pytest.mark.parametrize("m", [2, 4, 6])
def test_winograd_every_tile_size(backend, m, dtype):
    """Odd C and K, H and W not multiples of m nor of any tile size, all three paddings."""
    for padding in (0, 1, 2):
        x, w = inputs(1, 5, 7, 13, 10, 3, 3, dtype, seed=m + padding)
        check(x, w, padding, 1, "winograd", backend, dtype, m=m)


@pytest.mark.parametrize("backend,dtype", BACKEND_DTYPES)
@pytest.mark.parametrize("kernel,stride,padding", [((5, 5), 1, 2), ((5, 5), 2, 1), ((3, 3), 2, 1), ((3, 3), 2, 0),
                                                   ((1, 1), 1, 0), ((1, 1), 2, 1), ((2, 3), 3, 0)])
def test_direct_other_cases(backend, dtype, kernel, stride, padding):
    x, w = inputs(1, 3, 5, 9, 10, *kernel, dtype, seed=1)
    check(x, w, padding, stride, "direct", backend, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_auto_falls_back_to_direct(backend, monkeypatch):
    """Where Winograd does not apply (here stride 2), "auto" takes the direct algorithm."""
    monkeypatch.setenv("TILELANG_AUTOTUNE", "0")
    x, w = inputs(1, 3, 4, 9, 8, 3, 3, "f32", seed=2)
    y = conv2d(x, w, padding=1, stride=2, backend=backend)
    assert rel_error(y, F.conv2d(x.double(), w.double(), padding=1, stride=2)) < REL_TOL[("f32", None)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_larger_channel_counts_cross_channel_tiles(backend):
    """C and K past one channel tile (16 on the interpreters), channels-last input taken as is."""
    x, w = inputs(1, 37, 21, 9, 7, 3, 3, "f32", seed=3)
    x = x.contiguous(memory_format=torch.channels_last)
    for algorithm in ("direct", "winograd"):
        check(x, w, 1, 1, algorithm, backend, "f32")


def test_out_argument_is_filled():
    x, w = torch.randn(1, 2, 6, 7), torch.randn(3, 2, 3, 3)
    out = torch.full((1, 3, 6, 7), float("nan"))
    assert conv2d(x, w, padding=1, out=out, backend="reference") is out
    assert rel_error(out, F.conv2d(x.double(), w.double(), padding=1)) < REL_TOL[("f32", 4)]
    with pytest.raises(tl.TileLangError, match="out must be a contiguous"):
        conv2d(x, w, padding=0, out=out)


def test_conv_rejects_bad_input():
    x, w = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)
    with pytest.raises(tl.TileLangError, match="x has 3 channels but w expects 2"):
        conv2d(x, torch.randn(4, 2, 3, 3))
    with pytest.raises(tl.TileLangError, match="needs a 3x3 kernel, stride 1"):
        conv2d(x, w, stride=2, algorithm="winograd")
    with pytest.raises(tl.TileLangError, match="does not fit"):
        conv2d(torch.randn(1, 3, 2, 2), w)
    with pytest.raises(tl.TileLangError, match="x is torch.float16 but w is torch.float32"):
        conv2d(x.half(), w)
    with pytest.raises(tl.TileLangError, match="m .* must be one of"):
        conv2d(x, w, algorithm="winograd", m=3)
    with pytest.raises(tl.TileLangError, match="objective must be"):
        conv2d(x, w, objective="speed")
    with pytest.raises(tl.TileLangError, match="empty input"):
        conv2d(torch.randn(0, 3, 8, 8), w)
    with pytest.raises(tl.TileLangError, match="dtype torch.float64"):
        conv2d(x.double(), w.double())


def test_tuning_stores_the_fastest_accurate_candidate(tmp_path, monkeypatch):
    """F(6,3) in f16 is measured but `wrong` (over the accuracy limit), so never stored; conv2d's
    "auto" then runs the stored winner, also from a fresh process's view (memo cleared)."""
    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "tuning.sqlite3"))
    monkeypatch.setenv("TILELANG_AUTOTUNE", "1")
    x, w = inputs(1, 16, 8, 14, 13, 3, 3, "f16", seed=5)
    cfg = tl.Config(BLOCK_T=8, BLOCK_K=16, BLOCK_C=16)
    space = [conv_tune.Candidate("winograd", 6, cfg), conv_tune.Candidate("winograd", 2, cfg),
             conv_tune.Candidate("direct", None, tl.Config(BLOCK_P=32, BLOCK_K=16, BLOCK_C=16))]
    r = conv_tune.tune_conv2d(x, w, padding=1, backend="cpu", space=space, reps=1)
    status = {t.candidate.label(): t.status for t in r.trials}
    assert status[space[0].label()] == "wrong" and r.best.candidate != space[0], r.table()
    assert status[space[1].label()] == "ok" and status[space[2].label()] == "ok", r.table()
    assert "| winograd F(6,3)" in r.table()
    conv_tune._MEMO.clear()
    chosen = conv_tune.choose(x, w, 1, 1, "cpu", tune=False)
    best = r.best.candidate
    assert chosen == (best.algorithm, best.m, best.config)
    y = conv2d(x, w, padding=1, backend="cpu")
    assert rel_error(y, F.conv2d(x.double(), w.double(), padding=1)) < REL_TOL[("f16", best.m)]


def test_without_a_database_auto_takes_the_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "none.sqlite3"))
    conv_tune._MEMO.clear()
    x, w = inputs(1, 3, 2, 8, 8, 3, 3, "f32", seed=0)
    assert conv_tune.choose(x, w, 1, 1, "cpu", tune=False) == ("winograd", None, None)
    assert conv_tune.choose(x, w, 1, 2, "cpu", tune=False) == ("direct", None, None)
    assert not (tmp_path / "none.sqlite3").exists()


def test_conv_kernels_round_trip_through_the_ir_text_after_every_pass():
    from tilelang.frontend.lower import ArgSpec
    from tilelang.ir.parser import parse
    from tilelang.ir.printer import print_kernel
    from tilelang.passes import PassContext, run_pipeline
    from tilelang.stdlib import conv_winograd

    t = lambda dt, r: ArgSpec("tensor", dt, r)  # noqa: E731
    ints = {n: ArgSpec("scalar", "i32") for n in ("H", "W", "Ho", "Wo", "m", "pad", "KW", "stride")}
    fused = {"x": t("f16", 2), "origin": t("i32", 2), "u": t("f16", 3), "bt": t("f32", 1), "at": t("f32", 1),
             "y": t("f16", 1), "AP": ArgSpec("const", "int", 0, 6), "MP": ArgSpec("const", "int", 0, 4)}
    cases = [(conv_winograd.winograd_fused_kernel, fused | {n: ints[n] for n in ("H", "W", "Ho", "Wo", "m", "pad")}),
             (conv_winograd.winograd_filter_kernel, {"w": t("f32", 3), "kg_t": t("f32", 2), "u": t("f32", 3)}),
             (conv_module.conv2d_direct_kernel, {"x": t("f16", 2), "w": t("f16", 3), "y": t("f16", 3)}
              | {n: ints[n] for n in ("H", "W", "Wo", "KW", "stride", "pad")}),
             (conv_module.nchw_to_rows_kernel, {"x": t("f32", 3), "out": t("f32", 3)})]
    for kernel, sig in cases:
        steps = []
        fixed = {"A2": 36} if kernel is conv_winograd.winograd_fused_kernel else None
        run_pipeline(kernel.lower(sig, fixed), PassContext(config=tl.Config(), pow2_tiles=False),
                     lambda name, k: steps.append(k))
        assert steps
        for k in steps:
            text = print_kernel(k)
            assert parse(text) == k, text
