"""The async pipelining pass: an N-stage cp.async ring for a sequential tile loop's loads, checked
in the memory-level interpreter (a read before the copy arrives, or a copy over a stage still in
use, is reported) and through the CUDA emulation, against float64 torch."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.backends.cuda.emu import run_emulated
from tilelang.backends.cuda.sim import run_simulated
from tilelang.backends.reference.meminterp import RaceError, run_memory
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir
from tilelang.memir import nodes as M
from tilelang.memir.parser import parse_memkernel
from tilelang.memir.printer import print_memkernel
from tilelang.memir.verifier import verify_memkernel
from tilelang.passes import PassContext, run_pipeline
from tilelang.passes.lower_memory import lower_to_memory
from tilelang.passes.pipeline import pipeline_async
from tilelang.stdlib import matmul_kernel

from conftest import assert_close, poisoned

F32 = {n: ArgSpec("tensor", "f32", 2) for n in "abc"}
CFG = tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=8)


def pipelined(stages):
    k = run_pipeline(matmul_kernel.lower(F32, None), PassContext(config=CFG))
    return pipeline_async(lower_to_memory(k, threads=64), stages)


def _inputs():
    torch.manual_seed(5)
    a, b = torch.randn(21, 43), torch.randn(43, 18)
    return a, b, {"a": a.numpy(), "b": b.numpy(), "c": poisoned((21, 18), torch.float32).numpy()}, \
        {"M": 21, "K": 43, "N": 18}


@pytest.mark.parametrize("stages", [2, 3, 4])
def test_ring_round_trips_verifies_and_computes(stages):
    mk = pipelined(stages)
    verify_memkernel(mk)
    assert parse_memkernel(print_memkernel(mk)) == mk
    assert {b.ring for b in mk.buffers if b.ring} == {("k", stages)}
    a, b, arrays, sizes = _inputs()
    run_memory(mk, arrays, sizes)
    assert_close(torch.from_numpy(arrays["c"]), a.double() @ b.double(), "f32", 43)


def _edit_loop(mk, fn):
    def walk(stmts):
        out = []
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                body = tuple(walk(s.body))
                if not s.parallel:
                    body = tuple(fn(list(body)))
                s = ir.TileLoop(s.tiles, body, s.parallel, s.loc)
            out.append(s)
        return out
    return dataclasses.replace(mk, body=tuple(walk(mk.body)))


def test_reading_before_the_wait_is_reported():
    planted = _edit_loop(pipelined(3), lambda b: [s for s in b if not isinstance(s, M.Wait)])
    _, _, arrays, sizes = _inputs()
    with pytest.raises(RaceError, match="before its async copy arrived"):
        run_memory(planted, arrays, sizes)


def test_overwriting_a_stage_in_use_is_reported():
    # Copy one tile further ahead: into the very stage this iteration reads.
    mk = pipelined(2)
    planted = _edit_loop(mk, lambda b: [dataclasses.replace(s, ahead=2) if isinstance(s, M.AsyncCopy) and not s.first
                                        else s for s in b])
    _, _, arrays, sizes = _inputs()
    with pytest.raises(RaceError):
        run_memory(planted, arrays, sizes)


def test_dropping_the_barrier_after_the_wait_is_reported():
    def drop_first_barrier(body):
        i = next(i for i, s in enumerate(body) if isinstance(s, M.Barrier))
        return body[:i] + body[i + 1:]
    mk = pipelined(2)
    planted = _edit_loop(mk, drop_first_barrier)
    assert sum(isinstance(s, M.Barrier) for s in M.walk(planted.body)) == 0  # the pass needs just that one
    _, _, arrays, sizes = _inputs()
    with pytest.raises(RaceError, match="race"):
        run_memory(planted, arrays, sizes)


@pytest.mark.parametrize("dtype,block_k,vecs", [("f16", 16, {8}), ("bf16", 16, {8}), ("f32", 8, {4}),
                                                ("f16", 4, {1})])
def test_loads_are_pipelined_in_16_byte_chunks_where_rows_divide(dtype, block_k, vecs):
    sig = {n: ArgSpec("tensor", dtype, 2) for n in "abc"}
    cfg = tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=block_k)
    k = run_pipeline(matmul_kernel.lower(sig, None), PassContext(config=cfg))
    mk = pipeline_async(lower_to_memory(k, threads=64), 3)
    assert {b.ring for b in mk.buffers if b.ring} == {("k", 3)}
    copies = [s for s in M.walk(mk.body) if isinstance(s, M.AsyncCopy)]
    # the A tile [16, block_k] is chunked when block_k divides into chunks; B [block_k, 16] always is
    assert {s.vec for s in copies if s.out == copies[0].out} == vecs
    text = print_memkernel(mk)
    assert parse_memkernel(text) == mk and (("vec 8" in text) == (dtype != "f32"))
    verify_memkernel(mk)


@pytest.mark.slow
@pytest.mark.parametrize("run", [run_simulated, run_emulated], ids=["memir", "cuda-emu"])
@settings(max_examples=3)
@given(M=st.integers(1, 40), N=st.integers(1, 40), K=st.integers(1, 70), stages=st.sampled_from([2, 3]))
def test_pipelined_gemm_against_torch(run, M, N, K, stages):
    a, b = torch.randn(M, K), torch.randn(K, N)
    c = poisoned((M, N), torch.float32)
    run(matmul_kernel, a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=8, num_stages=stages))
    assert_close(c, a.double() @ b.double(), "f32", K)


@pytest.mark.slow
@pytest.mark.parametrize("run", [run_simulated, run_emulated], ids=["memir", "cuda-emu"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "offset"])
@settings(max_examples=2, deadline=None)
@given(rows=st.integers(1, 70), cols=st.integers(1, 40), inner=st.integers(1, 70), stages=st.sampled_from([2, 3]),
       dtype=st.sampled_from(["f16", "bf16"]))
def test_pipelined_tensor_core_gemm_against_torch(run, layout, rows, cols, inner, stages, dtype):
    """f16/bf16 rings filled by 16-byte chunks (cp.async.cg) feeding ldmatrix + mma.sync; an
    operand that is transposed, or starts 2 bytes past an aligned address, takes the
    element-by-element path of the same chunks."""
    dt = {"f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    a = {"contiguous": lambda: torch.randn(rows, inner).to(dt),
         "transposed": lambda: torch.randn(inner, rows).to(dt).T,
         "offset": lambda: torch.randn(rows, inner + 1).to(dt)[:, 1:]}[layout]()
    b = torch.randn(inner, cols).to(dt)
    c = poisoned((rows, cols), dt)
    mk = run(matmul_kernel, a, b, c, config=tl.Config(BLOCK_M=32, BLOCK_N=16, BLOCK_K=16, num_stages=stages))
    assert_close(c, a.double() @ b.double(), dtype, inner)
    if run is run_simulated:
        assert any(s.vec == 8 for s in M.walk(mk.body) if isinstance(s, M.AsyncCopy))
