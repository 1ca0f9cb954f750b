"""The masking pass: sympy proves bounds checks unnecessary; the generated Triton shows it."""

from __future__ import annotations

import pytest
import torch

import tilelang as tl
from tilelang.backends.triton import render_source
from tilelang.frontend.lower import ArgSpec
from tilelang.passes import PassContext, run_pipeline
from tilelang.stdlib import matmul_kernel

from conftest import BACKENDS, assert_close, poisoned
from kernels import gemm_divisible

SIG = {n: ArgSpec("tensor", "f16", 2) for n in ("a", "b", "c")}


def final_ir(kernel, config, fixed=None):
    ctx = PassContext(config=config, target="triton", pow2_tiles=True)
    return run_pipeline(kernel.lower(SIG, fixed), ctx)


def test_divisible_kernel_has_no_masks():
    k = final_ir(gemm_divisible, tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16))
    src = render_source(k)
    assert "mask=" not in src and "other=" not in src


def test_arbitrary_shapes_keep_masks():
    src = render_source(final_ir(matmul_kernel, tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)))
    assert src.count("mask=") == 3  # two loads and the store
    assert "(k_offs[None, :] < K)" in src and "(m_offs[:, None] < M)" in src


def test_divisor_smaller_than_tile_keeps_mask():
    """K % 16 == 0 does not prove K % 32 == 0."""
    src = render_source(final_ir(gemm_divisible, tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=32)))
    assert "(k_offs[None, :] < K)" in src
    assert "(m_offs[:, None] < M)" not in src


def test_concrete_shape_removes_only_its_masks():
    src = render_source(final_ir(matmul_kernel, tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=32), {"K": 512}))
    assert "< K)" not in src
    assert "(m_offs[:, None] < M)" in src and "< N)" in src


def test_concrete_shape_not_multiple_keeps_mask():
    src = render_source(final_ir(matmul_kernel, tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=32), {"K": 500}))
    assert "< K)" in src


@pytest.mark.parametrize("backend", BACKENDS)
def test_both_variants_are_correct(backend):
    cfg = tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)
    a, b = torch.randn(48, 32).half(), torch.randn(32, 64).half()
    c1 = poisoned((48, 64), torch.float16)
    gemm_divisible(a, b, c1, config=cfg, backend=backend)
    a2, b2 = torch.randn(45, 37).half(), torch.randn(37, 61).half()
    c2 = poisoned((45, 61), torch.float16)
    matmul_kernel(a2, b2, c2, config=cfg, backend=backend)
    assert_close(c1, a.double() @ b.double(), "f16", 32)
    assert_close(c2, a2.double() @ b2.double(), "f16", 37)


def test_divisibility_promise_is_checked_at_launch():
    a, b, c = torch.randn(40, 32), torch.randn(32, 48), torch.empty(40, 48)
    with pytest.raises(tl.TileLangError, match="requires M to be a multiple of 16"):
        gemm_divisible(a, b, c)
