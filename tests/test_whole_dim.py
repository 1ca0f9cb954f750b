"""Whole-dimension tiles: `x[m, :]`, `tl.tile(N, block=N)` and `tl.zeros([m, D])` take a dimension as
one tile, compiled for the dimension's concrete size (padded to a power of two and masked on Triton).
Every backend here against torch in float64, on sizes that are not tile multiples or powers of two."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import ConfigError
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir
from tilelang.ir.parser import parse
from tilelang.ir.printer import print_kernel
from tilelang.passes import PassContext, run_pipeline

from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned
from kernels import attention_kernel, rowsum_whole_kernel, softmax_rows_kernel

T2 = ArgSpec("tensor", "f32", 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@settings(max_examples=4)
@given(M=st.integers(1, 70), N=st.integers(1, 300), seed=st.integers(0, 1000))
def test_softmax_whole_rows(backend, dtype, M, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(M, N, generator=g) * 3).to(TORCH_DTYPES[dtype])
    out = poisoned((M, N), TORCH_DTYPES[dtype])
    softmax_rows_kernel(x, out, backend=backend)
    assert_close(out, torch.softmax(x.double(), dim=1), dtype, reduction_len=N)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=4)
@given(M=st.integers(1, 70), N=st.integers(1, 300), seed=st.integers(0, 1000))
def test_rowsum_with_block_equal_to_extent(backend, M, N, seed):
    """The issue's rowsum, written with `tl.tile([M, N], block=[None, N])`: one program per row tile."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, generator=g)
    out = poisoned((M,), torch.float32)
    rowsum_whole_kernel(x, out, backend=backend)
    assert_close(out, x.double().sum(dim=1), "f32", reduction_len=N)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_kernel_specializes_per_size(backend):
    """The compiled kernel is keyed on the whole dimension's size: a second size recompiles."""
    for n in (5, 130, 5):
        x = torch.randn(3, n)
        out = poisoned((3, n), torch.float32)
        softmax_rows_kernel(x, out, backend=backend)
        assert_close(out, torch.softmax(x.double(), dim=1), "f32", reduction_len=n)


def test_whole_tile_ir_round_trips_and_pads_on_pow2_targets():
    sig = {"x": T2, "out": T2}
    lowered = softmax_rows_kernel.lower(sig)
    whole = [t for s in ir.walk(lowered.body) if isinstance(s, ir.TileLoop) for t in s.tiles if t.whole]
    assert [t.name for t in whole] == ["N_all"] and ir.whole_dim_symbols(lowered) == ["N"]
    assert "N" not in ir.block_symbols(lowered)  # not a Config entry
    assert parse(print_kernel(lowered)) == lowered
    fixed = softmax_rows_kernel.lower(sig, {"N": 100})
    for pow2, block, checked in ((True, 128, True), (False, 100, False)):
        final = run_pipeline(fixed, PassContext(pow2_tiles=pow2))
        t = next(t for t in final.grid_loop.tiles if t.name == "N_all")
        assert (t.extent, t.block) == (100, block)
        store = next(s for s in ir.walk(final.body) if isinstance(s, ir.Store))
        assert store.bounds[1] is checked  # the padding is masked only where there is padding
        assert parse(print_kernel(final)) == final


def test_whole_dimension_needs_its_size_ahead_of_time():
    with pytest.raises(ConfigError, match="`N` is taken whole by a tile .* --shape N=VALUE"):
        run_pipeline(softmax_rows_kernel.lower({"x": T2, "out": T2}), PassContext())


def test_config_cannot_set_a_whole_dimension():
    x = torch.randn(4, 10)
    with pytest.raises(tl.TileLangError, match="Config sets N, which kernel"):
        softmax_rows_kernel(x, torch.empty_like(x), config=tl.Config(N=16), backend="reference")


def test_attention_ir_uses_whole_head_dim():
    sig = {n: ArgSpec("tensor", "f16", 3) for n in "qkvo"} | {"scale": ArgSpec("scalar", "f32")}
    final = run_pipeline(attention_kernel.lower(sig, {"D": 96}), PassContext(pow2_tiles=True))
    assert {t.name: (t.extent, t.block) for t in final.grid_loop.tiles}["D_all"] == (96, 128)


def test_default_tiles_shrink_beside_a_long_whole_dimension():
    from tilelang.passes.tiling import WHOLE_TILE_ELEMENTS

    final = run_pipeline(softmax_rows_kernel.lower({"x": T2, "out": T2}, {"N": 65536}), PassContext())
    assert dict(final.config)["BLOCK_M"] * 65536 <= WHOLE_TILE_ELEMENTS


@pytest.mark.skipif("cpu" not in BACKENDS, reason="cpu backend not available")
def test_cpu_backend_refuses_tiles_that_would_overflow_the_stack():
    x = torch.randn(3, 65536)
    out = poisoned((3, 65536), torch.float32)
    softmax_rows_kernel(x, out, backend="cpu")  # default tiles: fits
    assert_close(out, torch.softmax(x.double(), dim=1), "f32", reduction_len=65536)
    with pytest.raises(tl.TileLangError, match="MiB of tile buffers, more than the .* MiB of stack"):
        softmax_rows_kernel(x, out, config=tl.Config(BLOCK_M=64), backend="cpu")
