"""GEMM (stdlib matmul) on the reference and Triton-interpreter paths against torch in float64."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.stdlib import matmul, matmul_kernel

from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned

# Sizes include 1, primes and values that are not multiples of any tile size.
SIZES = st.one_of(st.sampled_from([1, 2, 3, 5, 7, 13, 16, 17, 31, 32, 33, 47]), st.integers(1, 70))
SMALL_TILES = tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)


def run_gemm(M, N, K, dtype, backend, config=SMALL_TILES, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(M, K, generator=g).to(TORCH_DTYPES[dtype])
    b = torch.randn(K, N, generator=g).to(TORCH_DTYPES[dtype])
    c = poisoned((M, N), TORCH_DTYPES[dtype])
    matmul_kernel(a, b, c, config=config, backend=backend)
    assert_close(c, a.double() @ b.double(), dtype, reduction_len=K)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@settings(max_examples=8)
@given(M=SIZES, N=SIZES, K=SIZES, seed=st.integers(0, 2**16))
def test_gemm_random_shapes(backend, dtype, M, N, K, seed):
    run_gemm(M, N, K, dtype, backend, seed=seed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gemm_default_config_and_wrapper(backend):
    a = torch.randn(70, 45)
    b = torch.randn(45, 97)
    c = matmul(a, b, backend=backend)
    assert c.shape == (70, 97) and c.dtype == torch.float32
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=45)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gemm_non_contiguous_inputs(backend):
    """Transposed views are read through their strides."""
    a = torch.randn(40, 23).t()  # 23 x 40, strides (1, 23)
    b = torch.randn(19, 40).t()  # 40 x 19
    assert not a.is_contiguous() and not b.is_contiguous()
    c = poisoned((23, 19), torch.float32).t().contiguous().t()  # a non-contiguous output too
    matmul_kernel(a, b, c, config=SMALL_TILES, backend=backend)
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=40)


@pytest.mark.triton_interpreter
def test_gemm_backends_agree_bitwise_in_f32():
    """Reference and Triton interpreter compute the same tiles in the same order."""
    a, b = torch.randn(33, 50), torch.randn(50, 20)
    outs = []
    for backend in ("reference", "triton"):
        c = poisoned((33, 20), torch.float32)
        matmul_kernel(a, b, c, config=SMALL_TILES, backend=backend)
        outs.append(c)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-6, atol=1e-6)
