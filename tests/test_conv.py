"""stdlib conv2d (direct implicit GEMM and Winograd F(m,3) with searched points) against torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.stdlib import conv as conv_module
from tilelang.stdlib.conv import conv2d

from conftest import BACKENDS

DTYPES = {"f32": torch.float32, "f16": torch.float16}
# Max error relative to max |reference|, measured (see docs/winograd.md) with a safety margin.
REL_TOL = {("f32", "direct"): 1e-5, ("f32", "winograd"): 3e-4, ("f16", "direct"): 3e-3, ("f16", "winograd"): 2e-2}


@pytest.fixture(autouse=True)
def poison_every_buffer(monkeypatch):
    """Outputs and intermediates start as NaN: any element a kernel fails to write shows up."""
    def alloc(shape, dtype, device):
        return torch.full(shape, float("nan"), dtype=dtype, device=device)

    monkeypatch.setattr(conv_module, "_alloc", alloc)


def check(x, w, padding, stride, algorithm, backend, dtype, m=None):
    y = conv2d(x, w, padding=padding, stride=stride, algorithm=algorithm, m=m, backend=backend)
    ref = F.conv2d(x.double(), w.double(), padding=padding, stride=stride)
    assert y.shape == ref.shape and y.dtype == x.dtype
    assert not torch.isnan(y).any()
    scale = max(ref.abs().max().item(), 1e-6)
    err = (y.double() - ref).abs().max().item() / scale
    assert err < REL_TOL[(dtype, algorithm)], f"relative error {err:.2e}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@pytest.mark.parametrize("algorithm", ["winograd", "direct"])
@settings(max_examples=4)
@given(N=st.integers(1, 2), C=st.integers(1, 6), K=st.integers(1, 5), H=st.integers(3, 15), W=st.integers(3, 15),
       padding=st.sampled_from([0, 1]), seed=st.integers(0, 1000))
def test_conv3x3_random_shapes(backend, dtype, algorithm, N, C, K, H, W, padding, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, H, W, generator=g).to(DTYPES[dtype])
    w = torch.randn(K, C, 3, 3, generator=g).to(DTYPES[dtype])
    check(x, w, padding, 1, algorithm, backend, dtype)


@pytest.mark.parametrize("m", [2, 4, 6])
def test_winograd_every_tile_size(m):
    g = torch.Generator().manual_seed(m)
    x, w = torch.randn(2, 3, 13, 10, generator=g), torch.randn(4, 3, 3, 3, generator=g)
    check(x, w, 1, 1, "winograd", "reference", "f32", m=m)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel,stride,padding", [((5, 5), 1, 2), ((3, 3), 2, 1), ((1, 1), 1, 0), ((2, 3), 3, 0)])
def test_direct_other_cases(backend, kernel, stride, padding):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 11, 12, generator=g)
    w = torch.randn(4, 3, *kernel, generator=g)
    check(x, w, padding, stride, "direct", backend, "f32")
    # "auto" falls back to the direct algorithm where Winograd does not apply.
    y = conv2d(x, w, padding=padding, stride=stride, backend=backend)
    torch.testing.assert_close(y.double(), F.conv2d(x.double(), w.double(), padding=padding, stride=stride),
                               rtol=1e-5, atol=1e-4)


def test_out_argument_is_filled():
    x, w = torch.randn(1, 2, 6, 7), torch.randn(3, 2, 3, 3)
    out = torch.full((1, 3, 6, 7), float("nan"))
    assert conv2d(x, w, padding=1, out=out, backend="reference") is out
    ref = F.conv2d(x.double(), w.double(), padding=1)
    assert (out.double() - ref).abs().max() / ref.abs().max() < REL_TOL[("f32", "winograd")]
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
