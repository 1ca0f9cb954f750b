"""The swizzle pass: XOR layouts for shared buffers, proved bijective and bank-conflict-free by
exhaustive enumeration, checked by the memory-level interpreter and rendered into CUDA."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import tilelang as tl
from tilelang.backends.reference.meminterp import RaceError, run_memory
from tilelang.errors import VerifierError
from tilelang.frontend.lower import ArgSpec
from tilelang.memir.layout import conflict_degrees, physical, prove_bijective
from tilelang.memir.parser import parse_memkernel
from tilelang.memir.printer import print_memkernel
from tilelang.memir.verifier import verify_memkernel
from tilelang.passes import PassContext, run_pipeline
from tilelang.passes.lower_memory import lower_to_memory
from tilelang.passes.swizzle import layout_proofs, swizzle_shared
from tilelang.stdlib import matmul_kernel

import kernels as K
from conftest import assert_close, poisoned

F32x2 = {n: ArgSpec("tensor", "f32", 2) for n in ("x", "out")}


def memory(kernel, sig, config):
    k = run_pipeline(kernel.lower(sig, None), PassContext(config=config))
    return swizzle_shared(lower_to_memory(k, threads=64))


def test_conflict_degree_counts_distinct_words_per_bank():
    lanes = np.arange(32)
    assert conflict_degrees(lanes[None, :]).tolist() == [1]  # consecutive words
    assert conflict_degrees((lanes * 32)[None, :]).tolist() == [32]  # one column of a 32-wide row-major tile
    assert conflict_degrees(np.zeros((1, 32), dtype=np.int64)).tolist() == [1]  # one word: a broadcast


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (16, 16), (64, 8)])
def test_xor_layouts_are_bijections_and_spread_a_column_over_all_banks(shape):
    rows, cols = shape
    q, p = max(1, 32 // cols), min(cols, 32)
    assert prove_bijective(shape, (q, p))
    column = np.arange(min(rows, 32)) * cols  # lanes reading column 0 of consecutive rows
    if rows >= 32:
        assert conflict_degrees(physical(shape, None, column)[None, :])[0] > 1
        assert conflict_degrees(physical(shape, (q, p), column)[None, :])[0] == 1
    assert not prove_bijective((64, 32), (1, 64))  # XOR values past the row: not a bijection


def test_row_reductions_get_a_proved_conflict_free_layout():
    mk = memory(K.softmax_kernel, F32x2, tl.Config(BLOCK_M=32, BLOCK_N=32))
    # The tile a row reduction reads (after reduction padding, a `where` of the loaded values).
    swizzled = [p for p in layout_proofs(mk) if p.swizzle is not None]
    assert swizzled
    v = swizzled[0]
    assert v.swizzle == (1, 32) and v.bijective and v.conflict_free
    reads = [p for p in v.patterns if p.access == "read"]
    assert reads and max(p.worst_identity for p in reads) == 32  # what identity would have cost
    assert all(p.worst_chosen == 1 for p in v.patterns)
    text = print_memkernel(mk)
    assert "swizzle(1, 32)" in text and parse_memkernel(text) == mk


def test_gemm_operands_need_no_swizzle_for_the_simt_dot():
    sig = {n: ArgSpec("tensor", "f32", 2) for n in "abc"}
    mk = memory(matmul_kernel, sig, tl.Config())
    proofs = layout_proofs(mk)
    assert proofs and all(p.swizzle is None and p.conflict_free and p.bijective for p in proofs)


def test_fragment_mapped_gemm_operands_are_swizzled_conflict_free():
    """Under the mma accumulator map the lanes of a warp instruction walk 8 rows (groupID = lane
    >> 2) of a 32-word-wide operand: an 8-way conflict under identity, none once swizzled."""
    sig = {n: ArgSpec("tensor", "f16", 2) for n in "abc"}
    mk = memory(matmul_kernel, sig, tl.Config())
    proofs = {p.buffer: p for p in layout_proofs(mk)}
    a = proofs[next(b.name for b in mk.buffers if b.space == "shared" and b.shape == (64, 32))]
    assert a.swizzle is not None and a.bijective and a.conflict_free
    assert max(p.worst_identity for p in a.patterns if p.access == "read") > 1


def test_a_non_bijective_layout_is_rejected_and_caught_by_the_interpreter():
    mk = memory(K.softmax_kernel, F32x2, tl.Config(BLOCK_M=64, BLOCK_N=32))
    target = next(b.name for b in mk.buffers if b.space == "shared" and b.shape == (64, 32))
    bad = dataclasses.replace(mk, buffers=tuple(dataclasses.replace(b, swizzle=(1, 64)) if b.name == target else b
                                                for b in mk.buffers))
    with pytest.raises(VerifierError, match="maps two elements to one word"):
        verify_memkernel(bad)
    x = torch.randn(50, 40)
    arrays = {"x": x.numpy(), "out": poisoned((50, 40), torch.float32).numpy()}
    with pytest.raises(RaceError, match="layout|word"):
        run_memory(bad, arrays, {"M": 50, "N": 40})
    good = {"x": x.numpy(), "out": poisoned((50, 40), torch.float32).numpy()}
    run_memory(mk, good, {"M": 50, "N": 40})
    assert_close(torch.from_numpy(good["out"]), torch.softmax(x.double(), 1), "f32", 40)
