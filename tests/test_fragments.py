"""Tensor-core fragment maps (tilelang/memir/fragments.py): the registered layouts, the matrix
instruction run lane by lane, the lowering's choice of a fragment map for f16/bf16 dots, and
fragment-mapped GEMMs through the memory-level interpreter and the CUDA emulation against
float64 torch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.backends.cuda.emu import run_emulated
from tilelang.backends.cuda.sim import run_simulated
from tilelang.backends.reference.meminterp import RaceError, run_memory
from tilelang.errors import TileLangError, VerifierError
from tilelang.frontend.lower import ArgSpec
from tilelang.ir import nodes as ir
from tilelang.memir import fragments as F
from tilelang.memir import nodes as M
from tilelang.memir.parser import parse_memkernel
from tilelang.memir.printer import print_memkernel
from tilelang.memir.verifier import verify_memkernel
from tilelang.passes import PassContext, run_pipeline
from tilelang.passes.lower_memory import lower_to_memory
from tilelang.stdlib import matmul_kernel

from conftest import assert_close, poisoned

TC_CONFIG = tl.Config(BLOCK_M=32, BLOCK_N=16, BLOCK_K=16)  # 4 warps as 2x2, one 16x8 fragment each


def _lowered(dtype, config=TC_CONFIG, threads=128, target="cuda"):
    sig = {n: ArgSpec("tensor", dtype, 2) for n in "abc"}
    k = run_pipeline(matmul_kernel.lower(sig, None), PassContext(config=config, pow2_tiles=True))
    return lower_to_memory(k, threads=threads, target=target)


def _dot(mk):
    return next(s for s in M.walk(mk.body) if isinstance(s, M.Compute) and getattr(s.value, "name", "") == "dot")


# ---- the tables ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(F.LAYOUTS))
def test_every_registered_layout_is_a_bijection(name):
    lay = F.LAYOUTS[name]
    lane, reg = lay.table()
    pairs = set(zip(lane.ravel().tolist(), reg.ravel().tolist()))
    assert len(pairs) == lay.rows * lay.cols == lay.lanes * lay.regs
    for (i, j), (l, r) in zip(np.ndindex(lay.rows, lay.cols), zip(lane.ravel(), reg.ravel())):
        assert lay.element(int(l), int(r)) == (i, j)


def test_mma_m16n8k16_matches_the_ptx_isa_examples():
    """Spot values from the PTX ISA's fragment figures for mma.m16n8k16 (f16): lane 5 is group 1,
    thread 1 in its group."""
    a, b, c = (F.LAYOUTS[f"mma_m16n8k16_{x}"] for x in "abc")
    assert [a.element(5, r) for r in range(8)] == [(1, 2), (1, 3), (9, 2), (9, 3), (1, 10), (1, 11), (9, 10), (9, 11)]
    assert [b.element(5, r) for r in range(4)] == [(2, 1), (3, 1), (10, 1), (11, 1)]
    assert [c.element(5, r) for r in range(4)] == [(1, 2), (1, 3), (9, 2), (9, 3)]


def test_a_layout_that_is_not_a_bijection_is_refused():
    bad = F.FragmentLayout("bad_c", 16, 8, 32, 4, row="(lane >> 2) + 8 * (reg >> 1)", col="(lane & 3) * 2")
    with pytest.raises(TileLangError, match="two"):
        F.register_layout(bad)
    assert "bad_c" not in F.LAYOUTS


@settings(max_examples=4, deadline=None)
@given(st.sampled_from(sorted(F.MMAS)), st.integers(0, 2 ** 31))
def test_run_mma_lane_by_lane_is_the_product(name, seed):
    instr = F.MMAS[name]
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, instr.m, instr.k)).astype(np.float32)
    b = rng.standard_normal((3, instr.k, instr.n)).astype(np.float32)
    np.testing.assert_allclose(F.run_mma(instr, a, b), a.astype(np.float64) @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,warps", [((32, 16), (2, 2)), ((64, 64), (2, 2)), ((64, 32), (4, 1))])
def test_fragment_map_owners_partition_the_tile(shape, warps):
    fmap = F.FragmentMap("mma_m16n8k16_c", warps)
    assert fmap.check(shape, 128) is None
    thread, slot = fmap.owners(shape)
    assert len(set(zip(thread.ravel().tolist(), slot.ravel().tolist()))) == thread.size
    assert np.bincount(thread.ravel()).tolist() == [fmap.per_thread(shape)] * 128
    assert slot.max() == fmap.per_thread(shape) - 1
    order = F.issue_order(fmap, shape)
    assert sorted(order.tolist()) == list(range(thread.size))
    assert (thread.ravel()[order][:32] == np.arange(32)).all()  # warp 0's first instruction, lanes 0..31


def test_fragment_map_check_explains_a_misfit():
    assert "not covered" in F.FragmentMap("mma_m16n8k16_c", (2, 2)).check((16, 16), 128)
    assert "threads" in F.FragmentMap("mma_m16n8k16_c", (2, 2)).check((32, 16), 64)


# ---- the lowering -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_f16_and_bf16_dots_get_the_mma_accumulator_map(dtype):
    mk = _lowered(dtype)
    fmap = F.FragmentMap("mma_m16n8k16_c", (2, 2))
    assert _dot(mk).map == fmap
    acc_writers = [s for s in M.walk(mk.body) if isinstance(s, M.Compute) and s.out == "acc"]
    assert acc_writers and all(s.map == fmap for s in acc_writers)
    assert all(s.map == fmap for s in M.walk(mk.body) if isinstance(s, M.Put))
    assert mk.buffer("acc").space == "local"
    text = print_memkernel(mk)
    assert "map fragment mma_m16n8k16_c [2, 2]" in text
    assert parse_memkernel(text) == mk


@pytest.mark.parametrize("dtype,config,target", [
    ("f32", TC_CONFIG, "cuda"),                                    # no f32 instruction (tf32 not used)
    ("f16", tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), "cuda"),  # 16 rows cannot feed 2x2 warps of 16
    ("f16", tl.Config(BLOCK_M=32, BLOCK_N=16, BLOCK_K=8), "cuda"),   # k-step of 16 does not divide 8
    ("f16", TC_CONFIG, None),                                      # no target: SIMT
])
def test_dots_that_do_not_fit_stay_simt(dtype, config, target):
    assert _dot(_lowered(dtype, config, target=target)).map == "cyclic"


def test_verifier_rejects_a_fragment_register_read_under_another_map():
    mk = _lowered("f16")

    def recyclic(stmts):
        out = []
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                s = ir.TileLoop(s.tiles, tuple(recyclic(s.body)), s.parallel, s.loc)
            elif isinstance(s, M.Compute) and s.out != "acc" and isinstance(s.map, F.FragmentMap) \
                    and getattr(s.value, "name", "") == "cast":
                s = dataclasses.replace(s, map="cyclic")
            out.append(s)
        return out
    with pytest.raises(VerifierError, match="register buffer"):
        verify_memkernel(dataclasses.replace(mk, body=tuple(recyclic(mk.body))))


def test_verifier_rejects_a_fragment_map_that_does_not_fit():
    text = print_memkernel(_lowered("f16"))
    bad = text.replace("mma_m16n8k16_c [2, 2]", "mma_m16n8k16_c [4, 2]")
    with pytest.raises(VerifierError, match="warps"):
        verify_memkernel(parse_memkernel(bad))


# ---- running it ---------------------------------------------------------------------------------------

def _gemm_arrays(dt, M_, K_, N_, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(M_, K_, generator=g).to(dt), torch.randn(K_, N_, generator=g).to(dt)
    return a, b


@settings(max_examples=3, deadline=None)
@given(st.integers(1, 70), st.integers(1, 45), st.integers(1, 40), st.sampled_from(["f16", "bf16"]))
def test_memory_interpreter_runs_tensor_core_gemm(M_, K_, N_, dtype):
    dt = {"f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    a, b = _gemm_arrays(dt, M_, K_, N_)
    c = poisoned((M_, N_), dt)
    mk = run_simulated(matmul_kernel, a, b, c, config=TC_CONFIG)
    assert isinstance(_dot(mk).map, F.FragmentMap)
    assert_close(c, a.double() @ b.double(), dtype, K_)


def test_a_missing_barrier_before_the_mma_is_reported():
    mk = _lowered("f16")

    def drop_second_barrier(stmts):
        out, seen = [], 0
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                s = ir.TileLoop(s.tiles, tuple(drop_second_barrier(s.body)), s.parallel, s.loc)
            if isinstance(s, M.Barrier):
                seen += 1
                if seen == 2:
                    continue
            out.append(s)
        return out
    planted = dataclasses.replace(mk, body=tuple(drop_second_barrier(mk.body)))
    a, b = _gemm_arrays(torch.float16, 32, 32, 16)
    args = {"a": a.numpy(), "b": b.numpy(), "c": poisoned((32, 16), torch.float16).numpy()}
    run_memory(mk, dict(args, c=args["c"].copy()), {"M": 32, "K": 32, "N": 16})
    with pytest.raises(RaceError, match="race on shared buffer"):
        run_memory(planted, args, {"M": 32, "K": 32, "N": 16})


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_cuda_emulation_runs_fragment_mapped_gemm(dtype):
    dt = {"f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    a, b = _gemm_arrays(dt, 45, 37, 29, seed=3)
    c = poisoned((45, 29), dt)
    rendered = run_emulated(matmul_kernel, a, b, c, config=TC_CONFIG)
    assert "(lane >> 2)" in rendered.source
    assert_close(c, a.double() @ b.double(), dtype, 37)


@pytest.mark.slow
def test_cuda_emulation_catches_a_wrong_accumulator_table(monkeypatch):
    """The emulated mma.sync/ldmatrix place elements by the PTX ISA's description, not by the
    table the renderer reads: a different (still bijective) accumulator table gives wrong results
    there, while the memory-level interpreter, which trusts the table, cannot tell."""
    good = F.LAYOUTS["mma_m16n8k16_c"]
    monkeypatch.setitem(F.LAYOUTS, "mma_m16n8k16_c", dataclasses.replace(good, col=f"({good.col}) ^ 1"))
    a, b = _gemm_arrays(torch.float16, 32, 32, 16, seed=4)
    c = poisoned((32, 16), torch.float16)
    rendered = run_emulated(matmul_kernel, a, b, c, config=TC_CONFIG)
    assert "tl_mma_m16n8k16_f16" in rendered.source
    assert not torch.allclose(c.double(), a.double() @ b.double(), atol=0.1)


# ---- PTX and SASS ---------------------------------------------------------------------------------------

def _tc_source(dtype, config=tl.Config(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32)):
    from tilelang.backends.cuda import memory_program
    from tilelang.backends.cuda.render import render_cuda

    sig = {n: ArgSpec("tensor", dtype, 2) for n in "abc"}
    k = run_pipeline(matmul_kernel.lower(sig, None), PassContext(config=config, target="cuda"))
    return render_cuda(memory_program(k, config))


def _sass(cubin: bytes) -> str | None:
    """cuobjdump -sass of a cubin, with the cuobjdump Triton ships (None when there is none)."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    tool = shutil.which("cuobjdump")
    if tool is None:
        try:
            import triton

            cand = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
            tool = str(cand) if cand.exists() else None
        except ImportError:
            tool = None
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "k.cubin"
        path.write_bytes(cubin)
        res = subprocess.run([tool, "-sass", str(path)], capture_output=True, text=True)
        return res.stdout if res.returncode == 0 else None


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_tensor_core_gemm_ptx_and_sass(arch, dtype):
    from tilelang.backends.cuda.toolchain import compile_cuda, toolchain

    if not toolchain():
        pytest.skip("no nvcc or NVRTC")
    r = _tc_source(dtype)
    ptx, cubin = compile_cuda(r.source, arch, "tc_gemm")
    assert "ldmatrix.sync.aligned.m8n8.x4.shared.b16" in ptx
    assert "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16" in ptx
    assert f"mma.sync.aligned.m16n8k16.row.col.f32.{dtype}.{dtype}.f32" in ptx
    assert "cp.async.cg.shared.global" in ptx and "cp.async.wait_group" in ptx  # the f16 ring, 16-byte copies
    sass = _sass(cubin)
    if sass is None:
        pytest.skip("no cuobjdump to read the SASS")
    assert "HMMA.16816.F32" in sass and "LDSM.16.M88.4" in sass and "LDSM.16.MT88.4" in sass
    assert "LDGSTS.E.BYPASS.128" in sass  # cp.async.cg of 16 bytes
