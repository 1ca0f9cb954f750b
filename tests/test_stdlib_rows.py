"""stdlib softmax, layer_norm, rms_norm and matmul's fused epilogues on every backend, against
torch in float64: rows of length 1, 17 and 1000+ (longer than any tile), -inf and huge values."""

from __future__ import annotations

import importlib

import pytest
import torch
import torch.nn.functional as F
from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned
from hypothesis import given, settings
from hypothesis import strategies as st
from tilelang.stdlib import layer_norm, matmul, rms_norm, softmax
from tilelang.stdlib.norm import layer_norm_kernel, layer_norm_rows_kernel, rms_norm_kernel, rms_norm_rows_kernel
from tilelang.stdlib.softmax import softmax_kernel, softmax_rows_kernel

import tilelang as tl
from tilelang.errors import LaunchError

ROWS = tl.Config(BLOCK_M=4, BLOCK_N=16)  # rows of 17 and 1000+ span several column tiles
WHOLE = tl.Config(BLOCK_M=4)  # the whole-row kernels: rows taken whole
# (online / column-tiled kernel, whole-row kernel) per function, with their configs
SOFTMAX = {"tiled": (softmax_kernel, ROWS), "whole": (softmax_rows_kernel, WHOLE)}
LAYER_NORM = {"tiled": (layer_norm_kernel, ROWS), "whole": (layer_norm_rows_kernel, WHOLE)}
RMS_NORM = {"tiled": (rms_norm_kernel, ROWS), "whole": (rms_norm_rows_kernel, WHOLE)}
LENGTHS = st.sampled_from([1, 17, 1030])
DTYPES = st.sampled_from(["f32", "f16", "bf16"])


def randn(shape, dtype, seed, scale=1.0, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale + offset).to(TORCH_DTYPES[dtype])


# ---- softmax ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", ["tiled", "whole"])
@settings(max_examples=3)
@given(M=st.integers(1, 9), N=LENGTHS, dtype=DTYPES, seed=st.integers(0, 2**16))
def test_softmax_kernel(backend, variant, M, N, dtype, seed):
    x = randn((M, N), dtype, seed, scale=4.0)
    out = poisoned((M, N), x.dtype)
    kernel, config = SOFTMAX[variant]
    kernel(x, out, config=config, backend=backend)
    assert_close(out, torch.softmax(x.double(), -1), dtype, N)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", ["tiled", "whole"])
def test_softmax_stability_and_inf(backend, variant, monkeypatch):
    if variant == "tiled":  # the wrapper takes the column-tiled kernel for rows longer than this
        monkeypatch.setattr(importlib.import_module("tilelang.stdlib.softmax"), "WHOLE_ROW_MAX", 16)
    config = ROWS if variant == "tiled" else None
    N = 1030
    x = torch.randn(6, N) * 3
    x[0] *= 1e30  # huge: only subtracting the max keeps exp finite
    x[1, :700] = float("-inf")  # -inf through the first tiles, then finite values
    x[2, ::3] = float("-inf")
    x[3] = float("-inf")  # no finite value: NaN, as torch
    x[4, 5] = 80.0  # exp(80) overflows f32 without the max shift
    x[5, -1] = 3e38
    got = softmax(x, config=config, backend=backend)
    want = torch.softmax(x.double(), -1)
    assert torch.isnan(got[3]).all() and torch.isnan(want[3]).all()
    keep = torch.tensor([0, 1, 2, 4, 5])
    assert_close(got[keep], want[keep], "f32", N)
    h = torch.full((2, 40), -60000.0, dtype=torch.float16)
    h[0, 7], h[1, 39] = 65504.0, 60000.0
    assert_close(softmax(h, config=config, backend=backend), torch.softmax(h.double(), -1), "f16", 40)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_dims_and_shapes(backend):
    x = torch.randn(3, 19, 5)
    for dim in (0, 1, 2, -1, -2):
        got = softmax(x, dim, backend=backend)
        assert got.shape == x.shape and got.is_contiguous()
        assert_close(got, torch.softmax(x.double(), dim), "f32", 19)
    assert_close(softmax(torch.tensor(2.5), backend=backend), torch.tensor(1.0, dtype=torch.float64), "f32")
    assert softmax(torch.empty(0, 4), backend=backend).shape == (0, 4)
    with pytest.raises(LaunchError, match="out of range"):
        softmax(x, 3)
    with pytest.raises(LaunchError, match="dtype"):
        softmax(x.double())


# ---- layer norm / rms norm ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", ["tiled", "whole"])
@settings(max_examples=3)
@given(M=st.integers(1, 9), N=LENGTHS, dtype=DTYPES, offset=st.sampled_from([0.0, 300.0]),
       seed=st.integers(0, 2**16))
def test_layer_norm_kernel(backend, variant, M, N, dtype, offset, seed):
    """A large common offset (300) checks that the variance is not computed as E[x^2] - E[x]^2."""
    x = randn((M, N), dtype, seed, scale=2.0, offset=offset)
    w, b = randn((N,), dtype, seed + 1), randn((N,), dtype, seed + 2)
    out = poisoned((M, N), x.dtype)
    kernel, config = LAYER_NORM[variant]
    kernel(x, w, b, out, 1e-5, config=config, backend=backend)
    want = F.layer_norm(x.double(), (N,), w.double(), b.double(), 1e-5)
    # the centred value x - mean carries x's f32 rounding relative to |x| (not to the std)
    rel = (x.double().abs().max() / x.double().std().clamp_min(1e-3)).item() if N > 1 else 1.0
    assert_close(out, want, dtype, reduction_len=max(1, int(rel * 4)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", ["tiled", "whole"])
@settings(max_examples=2)
@given(M=st.integers(1, 9), N=LENGTHS, dtype=DTYPES, seed=st.integers(0, 2**16))
def test_rms_norm_kernel(backend, variant, M, N, dtype, seed):
    x = randn((M, N), dtype, seed, scale=3.0)
    w = randn((N,), dtype, seed + 1)
    out = poisoned((M, N), x.dtype)
    kernel, config = RMS_NORM[variant]
    kernel(x, w, out, 1e-6, config=config, backend=backend)
    assert_close(out, F.rms_norm(x.double(), (N,), w.double(), 1e-6), dtype, 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("whole_row_max", [16384, 8])
def test_norm_wrappers(backend, whole_row_max, monkeypatch):
    """Both paths of the wrappers: whole rows, and (rows longer than the limit) column tiles."""
    monkeypatch.setattr(importlib.import_module("tilelang.stdlib.norm"), "WHOLE_ROW_MAX", whole_row_max)
    x = torch.randn(2, 3, 7, 5) * 2 + 1
    w, b = torch.randn(7, 5), torch.randn(7, 5)
    want = F.layer_norm(x.double(), (7, 5), w.double(), b.double(), 1e-3)
    assert_close(layer_norm(x, (7, 5), w, b, eps=1e-3, backend=backend), want, "f32", 8)
    assert_close(layer_norm(x, 5, backend=backend), F.layer_norm(x.double(), (5,)), "f32", 8)
    const = torch.full((4, 9), 3.0)  # zero variance: (x - mean) = 0, rsqrt(eps) finite
    assert_close(layer_norm(const, 9, backend=backend), torch.zeros(4, 9, dtype=torch.float64), "f32")
    assert_close(rms_norm(x, (7, 5), w, backend=backend),
                 F.rms_norm(x.double(), (7, 5), w.double(), torch.finfo(torch.float32).eps), "f32", 4)
    assert_close(rms_norm(x, 5, eps=0.5, backend=backend), F.rms_norm(x.double(), (5,), eps=0.5), "f32", 4)
    with pytest.raises(LaunchError, match="trailing dimensions"):
        layer_norm(x, (5, 7))
    with pytest.raises(LaunchError, match="weight"):
        layer_norm(x, (7, 5), torch.randn(5))
    with pytest.raises(LaunchError, match="eps"):
        rms_norm(x, 5, eps=-1.0)


# ---- matmul epilogues ---------------------------------------------------------------------------------

TORCH_ACT = {None: lambda v: v, "relu": F.relu, "gelu": F.gelu, "silu": F.silu}
GEMM = tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", list(TORCH_ACT))
@settings(max_examples=2)
@given(M=st.integers(1, 40), N=st.integers(1, 40), K=st.integers(1, 40), dtype=DTYPES,
       with_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_matmul_epilogue(backend, activation, M, N, K, dtype, with_bias, seed):
    a, b = randn((M, K), dtype, seed), randn((K, N), dtype, seed + 1)
    bias = randn((N,), dtype, seed + 2, scale=3.0) if with_bias else None
    c = matmul(a, b, bias=bias, activation=activation, config=GEMM, backend=backend)
    want = a.double() @ b.double() + (bias.double() if with_bias else 0.0)
    assert c.dtype == a.dtype and c.shape == (M, N)
    assert_close(c, TORCH_ACT[activation](want), dtype, K)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gelu_tails(backend):
    """Exact GELU across its range, including the far negative tail (where 1 + erf cancels) and
    large positive values; a = identity makes the GEMM output the inputs themselves."""
    v = torch.cat([torch.linspace(-12, 12, 33), torch.tensor([-30.0, -8.5, 1e-6, -1e-6, 40.0])])
    a, b = torch.eye(len(v)), torch.diag(v)
    got = matmul(a, b, activation="gelu", config=GEMM, backend=backend).diagonal()
    v64 = v.double()  # v * Phi(v) via erfc: torch's f64 gelu, 1 + erf, is itself 0 below about -8
    want = v64 * 0.5 * torch.special.erfc(-v64 / 2 ** 0.5)
    # relative error in the tail ~1e-5: exp(-v^2/2) amplifies the f32 rounding of v^2 (~70 there)
    torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=1e-37)


def test_matmul_epilogue_errors():
    a, b = torch.randn(4, 3), torch.randn(3, 5)
    with pytest.raises(LaunchError, match="activation"):
        matmul(a, b, activation="tanh")
    with pytest.raises(LaunchError, match="bias has shape"):
        matmul(a, b, bias=torch.randn(4))
    with pytest.raises(LaunchError, match="bias"):
        matmul(a, b, bias=[1.0] * 5)


@pytest.mark.slow
def test_docs_stdlib_example_runs():
    """The first example of the k-means / row-ops section of docs/stdlib.md runs as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "stdlib.md").read_text()
    section = text[text.index("## k-means, softmax"):]
    code = section[section.index("```python\n") + 10:]
    code = code[:code.index("```")]
    scope: dict = {}
    exec(compile(code, "docs/stdlib.md", "exec"), scope)
    x, labels = scope["x"], scope["labels"]
    want = torch.cdist(x.double(), scope["centroids"].double()).argmin(1)
    assert (labels == want).float().mean() > 0.999  # random data: a few near ties may differ
    assert scope["p"].shape == (8, 1000) and scope["y"].shape == (4, 7, 5) and scope["h"].shape == (300, 257)
