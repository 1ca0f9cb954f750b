"""Issue 7, memory safety: large tiles, out-of-range gathers and scatters (views included), constant
indices known to be outside a tensor, and the internal errors triton raised on valid kernels.
Scenarios that used to segfault or hang run in a child process."""

from __future__ import annotations

import pytest
import torch

import tilelang as tl
from tilelang.frontend.lower import ArgSpec
from tilelang import backend as backends

import safety_kernels as K
from child import assert_clean, run_child
from conftest import BACKENDS, assert_close, poisoned

COMPILED = [b for b in BACKENDS if b != "reference"]


@pytest.mark.slow
def test_huge_tile_add_runs_on_the_heap(tmp_path):
    proc = run_child("""
x, y = torch.randn(1_500_000), torch.randn(1_500_000)
out = torch.full_like(x, float('nan'))
K.add(x, y, out, config=tl.Config(BLOCK_N=2**20), backend='cpu')
assert torch.equal(out, x + y)
""", tmp_path)
    assert_clean(proc)


@pytest.mark.slow
def test_gemm_with_2048_tiles_runs(tmp_path):
    proc = run_child("""
a, b = torch.randn(2050, 40, dtype=torch.float64), torch.randn(40, 2049, dtype=torch.float64)
c = torch.full((2050, 2049), float('nan'))
K.gemm(a.float(), b.float(), c, config=tl.Config(BLOCK_M=2048, BLOCK_N=2048, BLOCK_K=16), backend='cpu')
torch.testing.assert_close(c.double(), a.float().double() @ b.float().double(), rtol=1e-5, atol=1e-4)
""", tmp_path)
    assert_clean(proc)


def test_tiles_too_large_for_memory_are_refused_before_running():
    x = torch.randn(16)
    with pytest.raises(tl.TileLangError, match=r"MiB of tile buffers per thread.*smaller tile sizes") as info:
        K.add(x, x, torch.empty(16), config=tl.Config(BLOCK_N=2**28), backend="cpu")
    assert "safety_kernels.py" in str(info.value)


@pytest.mark.parametrize("value", ["-1x2", "0x4", "6x", "abc", "1000x1000"])
def test_bad_microkernel_override_is_an_error_not_a_hang(tmp_path, value):
    proc = run_child("""
a, b = torch.randn(20, 16), torch.randn(16, 32)
try:
    K.gemm(a, b, torch.empty(20, 32), config=tl.Config(BLOCK_M=16, BLOCK_N=32, BLOCK_K=16), backend='cpu')
except tl.TileLangError as e:
    print('ERR', e)
""", tmp_path, env={"TILELANG_CPU_MICROKERNEL": value}, timeout=120)
    assert_clean(proc)
    assert "ERR" in proc.stdout and "TILELANG_CPU_MICROKERNEL must be MRxNV" in proc.stdout


@pytest.mark.parametrize("backend", COMPILED)
def test_gather_far_out_of_range_reads_the_fill_value(tmp_path, backend):
    proc = run_child(f"""
x = torch.randn(10, 6)
idx = torch.tensor([0, 100_000_000, -50_000_000, 9, 10])
out = torch.full((5, 6), float('nan'))
K.gather(x, idx, out, backend={backend!r})
assert torch.equal(out[0], x[0]) and torch.equal(out[3], x[9]), out
assert not out[[1, 2, 4]].any(), out
""", tmp_path)
    assert_clean(proc)


@pytest.mark.parametrize("backend", COMPILED)
def test_scatter_never_writes_outside_the_view_passed(backend):
    buf = torch.zeros(10, 4)
    src = torch.arange(1, 13, dtype=torch.float32).reshape(3, 4)
    K.scatter(src, torch.tensor([1, 7, -3]), buf[:5], backend=backend)
    assert torch.equal(buf[1], src[0])
    assert not buf[[0, 2, 3, 4]].any(), "scatter wrote a wrong row of the view"
    assert not buf[5:].any(), "scatter wrote past the end of the view"


def test_reference_reports_out_of_range_gather():
    with pytest.raises(tl.TileLangError, match="out of range"):
        K.gather(torch.randn(4, 3), torch.tensor([0, 9]), torch.empty(2, 3), backend="reference")


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_constant_index_is_a_compile_time_error(backend):
    with pytest.raises(tl.TileLangError, match=r"index -1 is out of range for dimension 1 of `x`") as info:
        K.last_column(torch.randn(4, 3), torch.empty(4), backend=backend)
    assert "safety_kernels.py" in str(info.value) and "x[m, -1]" in str(info.value)


def test_constant_index_past_a_fixed_size_is_a_compile_time_error():
    sig = {"x": ArgSpec("tensor", "f32", 2), "out": ArgSpec("tensor", "f32", 1)}
    with pytest.raises(tl.TileLangError, match=r"index 5 is out of range for dimension 1 of `x` \(size 3\)"):
        K.column5.final_ir(sig, tl.Config(), backends.get("cpu"), {"N": 3})


@pytest.mark.parametrize("backend", COMPILED)
def test_constant_index_past_the_edge_reads_the_fill_value(backend):
    out = poisoned((4,), torch.float32)
    K.column5(torch.randn(4, 3), out, backend=backend)
    assert not out.any()
    x = torch.randn(5, 7)
    K.column5(x, out := poisoned((5,), torch.float32), backend=backend)
    assert torch.equal(out, x[:, 5])


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_precision_matmul(backend):
    a, b = torch.randn(19, 24).half(), torch.randn(24, 13)
    c = poisoned((19, 13), torch.float32)
    K.gemm(a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), backend=backend)
    assert_close(c, a.double() @ b.double(), "f16", reduction_len=24)


@pytest.mark.parametrize("backend", BACKENDS)
def test_storing_a_python_scalar(backend):
    out = poisoned((5, 9), torch.float32)
    K.store_three(torch.randn(5, 9), out, backend=backend)
    assert torch.equal(out, torch.full((5, 9), 3.0))
