"""Issue 7, large sizes: 64-bit offsets for tensors of 2**31 elements or more, int scalars range-checked,
and i64 tile positions (a second compiled variant) once a size reaches 2**31. Inputs of 2**31 + 5 elements
are stride-0 views of one byte, so these tests stay cheap in memory."""

from __future__ import annotations

import pytest
import torch

import tilelang as tl
from tilelang.ir import nodes as ir
from tilelang.ir.parser import parse as ir_parse
from tilelang.ir.printer import print_kernel as ir_print
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


def test_masked_row_sum_over_2_31_elements_runs_with_64_bit_positions():
    """The call where N reaches 2**31 compiles the i64-position variant instead of wrapping
    (before: 5 on cpu, an internal error in the reference)."""
    x = torch.ones(1, 1, dtype=torch.int8).expand(1, BIG)
    out = torch.zeros(1, dtype=torch.int64)
    K.masked_row_count(x, out, config=tl.Config(BLOCK_M=1, BLOCK_N=2**16), backend="cpu")
    assert out.tolist() == [BIG]
    small = torch.ones(3, 7, dtype=torch.int8)
    out = torch.zeros(3, dtype=torch.int64)
    K.masked_row_count(small, out, config=tl.Config(BLOCK_M=1, BLOCK_N=2**16), backend="cpu")
    assert out.tolist() == [7, 7, 7]  # the i32 variant still serves small calls


def test_row_sum_over_2_31_elements_runs_with_64_bit_positions():
    """Reductions over a partial tile compare tile positions (the padding pass)."""
    x = torch.ones(1, 1, dtype=torch.int8).expand(2, BIG)
    out = torch.zeros(2, dtype=torch.int64)
    K.row_sum_i64(x, out, config=tl.Config(BLOCK_M=2, BLOCK_N=2**16), backend="cpu")
    assert out.tolist() == [BIG, BIG]


@pytest.fixture
def tiny_int32_limit(monkeypatch):
    """Sizes above 5 take the i64-position variant: its code paths run on every backend at sizes
    the reference can interpret."""
    from tilelang.runtime import launch, limits

    monkeypatch.setattr(limits, "INT32_MAX", 5)
    monkeypatch.setattr(launch, "INT32_MAX", 5)


def _positions_expected(x):
    M, N = x.shape
    flat = torch.arange(M * N, dtype=torch.int64).reshape(M, N)
    n_id = torch.arange(N) // 4  # BLOCK_N = 4 below
    acc = torch.where(flat % 3 == 0, x.to(torch.int64) + n_id, 0).sum(1)
    m_start = torch.arange(M) // 2 * 2  # BLOCK_M = 2
    return flat, acc + m_start


@pytest.mark.parametrize("backend", BACKENDS)
def test_64_bit_position_variant_matches(backend, tiny_int32_limit):
    x = torch.randint(-50, 50, (7, 11), dtype=torch.int32)
    flat, acc = _positions_expected(x)
    for pos_dtype in (torch.int64, torch.int32):
        pos = torch.full((7, 11), -99, dtype=pos_dtype)
        out = torch.full((7,), -99, dtype=torch.int32)
        K.positions(x, pos, out, config=tl.Config(BLOCK_M=2, BLOCK_N=4), backend=backend)
        assert torch.equal(pos.to(torch.int64), flat)
        assert torch.equal(out.to(torch.int64), acc)
    runner = K.positions.specialize(x, pos, out, config=tl.Config(BLOCK_M=2, BLOCK_N=4), backend=backend)
    wide = runner.wide_variant().kernel
    index_ops = [s for s in ir.walk(wide.body) if isinstance(s, ir.Assign) and isinstance(s.value, ir.Op)
                 and s.value.name in ("tile_index", "tile_start", "tile_id", "size")]
    assert index_ops and all(s.type.dtype == "i64" for s in index_ops)
    assert ir_parse(ir_print(wide)) == wide  # the variant's IR round-trips like any other


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
