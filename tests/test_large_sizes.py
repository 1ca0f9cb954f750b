"""Issue 7, large sizes: 64-bit offsets for tensors of 2**31 elements or more, int scalars range-checked,
and i32 tile positions refused (not wrapped) once a size reaches 2**31. Inputs of 2**31 + 5 elements
are stride-0 views of one byte, so these tests stay cheap in memory."""

from __future__ import annotations

import pytest
import torch

import tilelang as tl
from tilelang.backends import triton as triton_backend
from tilelang.errors import LaunchError

import safety_kernels as K
from conftest import BACKENDS

BIG = 2**31 + 5


def test_integer_scalar_beyond_int64_is_refused():
    x = torch.zeros(4, dtype=torch.int64)
    with pytest.raises(LaunchError, match=r"does not fit in a 64-bit integer"):
        K.add_scalar(x, torch.empty(4, dtype=torch.int64), 2**70)
    out = torch.empty(4, dtype=torch.int64)
    K.add_scalar(x, out, 2**62, backend="cpu")
    assert out.tolist() == [2**62] * 4


def test_masked_row_sum_over_2_31_elements_is_refused_not_wrapped():
    x = torch.ones(1, 1, dtype=torch.int8).expand(1, BIG)
    out = torch.zeros(1, dtype=torch.int64)
    with pytest.raises(tl.TileLangError, match=r"32-bit, but N = 2147483653 is 2\*\*31 or more"):
        K.masked_row_count(x, out, backend="cpu")


def test_row_sum_over_2_31_elements_is_refused_not_wrapped():
    """Reductions over a partial tile compare tile positions (the padding pass), so they are
    refused the same way until positions are 64-bit."""
    x = torch.ones(1, 1, dtype=torch.int8).expand(2, BIG)
    out = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(LaunchError, match=r"is 2\*\*31 or more"):
        K.row_sum_i64(x, out, config=tl.Config(BLOCK_M=2, BLOCK_N=4096), backend="cpu")


def test_triton_picks_64_bit_offsets_for_large_views():
    small = torch.zeros(10, 10)
    big = torch.ones(1, 1, dtype=torch.int8).expand(2, BIG)
    assert not triton_backend.needs_index64({"x": small})
    assert triton_backend.needs_index64({"x": big})


@pytest.mark.skipif("triton" not in BACKENDS, reason="triton not installed")
def test_triton_64_bit_variant_computes_the_same(monkeypatch):
    """The i64 rendering, forced on small tensors, gives the same results as the i32 one."""
    monkeypatch.setattr(triton_backend, "INDEX32_LIMIT", 1)
    x, idx = torch.randn(9, 5), torch.tensor([3, 0, 8, 20])
    out = torch.full((4, 5), float("nan"))
    K.gather(x, idx, out, backend="triton")
    assert torch.equal(out[:3], x[[3, 0, 8]]) and not out[3].any()
    a, b = torch.randn(17, 9), torch.randn(9, 11)
    c = torch.full((17, 11), float("nan"))
    K.gemm(a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), backend="triton")
    torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
