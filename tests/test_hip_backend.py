"""The HIP backend without an AMD GPU: every test and stdlib kernel compiles with Debian's hipcc to
an AMDGPU code object (gfx90a and the newest architecture the compiler has), the GEMM's
disassembly holds MFMA instructions and no kernel of the default configs uses scratch, golden files
pin the source, AOT writes source / code object / assembly / disassembly / manifest, and the
kernels compute the right answers through the explicit-memory interpreter (the program the HIP
renderer consumes) and through the rendered source itself compiled by g++ against an emulation of
HIP with wave-level MFMA (backends/hip/emu.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.backends.hip import HipBackend, memory_program
from tilelang.backends.hip import toolchain as tc
from tilelang.backends.hip.emu import HipEmuBackend, run_hip_emulated
from tilelang.backends.hip.render import render_hip
from tilelang.backends.hip.sim import run_hip_simulated
from tilelang.backends.reference.meminterp import RaceError, run_memory
from tilelang.errors import BackendError, VerifierError
from tilelang.frontend.lower import ArgSpec
from tilelang.memir import nodes as M
from tilelang.memir import fragments as F
from tilelang.memir.parser import parse_memkernel
from tilelang.memir.printer import print_memkernel
from tilelang.memir.verifier import verify_memkernel
from tilelang.passes import PassContext, run_pipeline
from tilelang.stdlib import matmul_kernel

import kernels as K
from conftest import assert_close, poisoned
from test_cuda_backend import WHOLE, every_signature

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
HAVE = tc.supported_archs()
needs_hipcc = pytest.mark.skipif(not HAVE, reason="no hipcc (apt-get install hipcc) with a CDNA target")
# gfx90a, and the newest CDNA architecture the installed compiler knows (gfx940 with Debian 12's clang 15)
BUILD_ARCHS = sorted({"gfx90a", HAVE[-1]} & set(HAVE)) if HAVE else ["gfx90a"]
F16 = {n: ArgSpec("tensor", "f16", 2) for n in "abc"}


def lowered(kernel, sig, config=None, fixed=None, default_tile=None):
    config = config or tl.Config()
    be = HipBackend()
    k = run_pipeline(kernel.lower(sig, fixed), PassContext(
        config=config, target="hip", default_parallel_tile=default_tile or be.default_parallel_tile,
        default_sequential_tile=default_tile or be.default_sequential_tile))
    return memory_program(k, config)


def rendered(kernel, sig, config=None, fixed=None, default_tile=None):
    return render_hip(lowered(kernel, sig, config, fixed, default_tile))


def _kernel_text(disasm: str, entry: str) -> str:
    start = disasm.index(f"<{entry}>:")
    nxt = disasm.find(">:\n", start + len(entry) + 3)
    return disasm[start:nxt if nxt > 0 else None]


# ---- fragment maps -----------------------------------------------------------------------------------

def test_mfma_layouts_match_the_instruction_tables():
    """Spot values of AMD's matrix layouts: D[i][j] of 32x32x8 is register (i % 4) + 4 * (i // 8)
    of lane j + 32 * ((i // 4) % 2); A[i][k] register k % 4 of lane i + 32 * (k // 4)."""
    c, a = F.LAYOUTS["mfma_32x32x8_c"], F.LAYOUTS["mfma_32x32x8_a"]
    lane, reg = c.table()
    for i, j in [(0, 0), (5, 7), (13, 31), (31, 2)]:
        assert (lane[i, j], reg[i, j]) == (j + 32 * ((i // 4) % 2), i % 4 + 4 * (i // 8))
    lane, reg = a.table()
    assert (lane[9, 6], reg[9, 6]) == (9 + 32, 2)
    lane, reg = F.LAYOUTS["mfma_16x16x16_c"].table()
    assert (lane[6, 3], reg[6, 3]) == (3 + 16, 2)


def _map(mk, out):
    return next(s.map for s in M.walk(mk.body) if isinstance(s, M.Compute) and s.out == out)


def test_gemm_accumulator_takes_the_mfma_map_and_round_trips():
    mk = lowered(matmul_kernel, F16)
    assert _map(mk, "acc") == F.FragmentMap("mfma_32x32x8_c", (2, 2)) and mk.threads == 256
    assert any(isinstance(s, M.Put) and isinstance(s.map, F.FragmentMap) for s in M.walk(mk.body))
    text = print_memkernel(mk)
    assert parse_memkernel(text) == mk and "map fragment mfma_32x32x8_c [2, 2]" in text
    verify_memkernel(parse_memkernel(text))
    small = lowered(matmul_kernel, F16, tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, num_warps=1))
    assert _map(small, "acc") == F.FragmentMap("mfma_16x16x16_c", (1, 1))
    # f32 operands keep the SIMT dot (MFMA here is for f16 / bf16)
    f32 = lowered(matmul_kernel, {n: ArgSpec("tensor", "f32", 2) for n in "abc"})
    assert all(not isinstance(s.map, F.FragmentMap) for s in M.walk(f32.body) if hasattr(s, "map"))


def test_a_wrong_fragment_map_is_caught():
    mk = lowered(matmul_kernel, F16, tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=16, num_warps=1))

    def remap(stmts, out, new, only=None):
        res = []
        for s in stmts:
            if isinstance(s, tl.ir.nodes.TileLoop):
                s = dataclasses.replace(s, body=tuple(remap(s.body, out, new, only)))
            elif isinstance(s, M.Compute) and s.out == out and (only is None or getattr(s.value, "name", "") == only):
                s = dataclasses.replace(s, map=new)
            res.append(s)
        return res
    # the accumulator's initialisation in the cyclic map, its updates in the MFMA map
    planted = dataclasses.replace(mk, body=tuple(remap(mk.body, "acc", "cyclic", only="full")))
    with pytest.raises(VerifierError, match="two different thread maps"):
        verify_memkernel(planted)
    # the interpreter catches a product computed under the wrong layout (without the verifier)
    torch.manual_seed(0)
    a, b = torch.randn(32, 16).half().numpy(), torch.randn(16, 32).half().numpy()
    arrays = {"a": a, "b": b, "c": poisoned((32, 32), torch.float16).numpy()}
    dot_out = next(s.out for s in M.walk(mk.body) if isinstance(s, M.Compute) and getattr(s.value, "name", "") == "dot")
    wrong = F.FragmentMap("mfma_16x16x16_c", (1, 1))
    with pytest.raises(RaceError, match="register buffer"):
        run_memory(dataclasses.replace(mk, body=tuple(remap(mk.body, dot_out, wrong))), arrays,
                   {"M": 32, "K": 16, "N": 32})


# ---- correctness: the lowered program (interpreter) and the rendered source (g++ emulation) ------------

@settings(max_examples=3, deadline=None)
@given(st.integers(1, 70), st.integers(1, 70), st.integers(1, 40), st.sampled_from(["f16", "bf16"]))
def test_gemm_through_the_memory_interpreter(M_, N, Kd, dtype):
    dt = {"f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    a, b = torch.randn(M_, Kd).to(dt), torch.randn(Kd, N).to(dt)
    c = poisoned((M_, N), dt)
    mk = run_hip_simulated(matmul_kernel, a, b, c, config=tl.Config(BLOCK_M=32, BLOCK_N=64, BLOCK_K=16, num_warps=1))
    assert _map(mk, "acc").layout == "mfma_32x32x8_c"
    assert_close(c, a.double() @ b.double(), dtype, Kd)


@pytest.mark.parametrize("kernel,run", [
    ("softmax", run_hip_simulated), ("attention", run_hip_simulated), ("elementwise", run_hip_simulated),
    pytest.param("softmax", run_hip_emulated, marks=pytest.mark.slow)])
def test_other_kernels(kernel, run):
    torch.manual_seed(1)
    if kernel == "softmax":
        x = (torch.randn(19, 45) * 3)
        out = poisoned((19, 45), torch.float32)
        run(K.softmax_kernel, x, out, config=tl.Config(BLOCK_M=16, BLOCK_N=64, num_warps=1))
        assert_close(out, torch.softmax(x.double(), 1), "f32", 45)
    elif kernel == "attention":
        BH, S, D = 1, 19, 16
        q, k, v = (torch.randn(BH, S, D) for _ in range(3))
        o = poisoned((BH, S, D), torch.float32)
        run(K.attention_kernel, q, k, v, o, 0.25, config=tl.Config(BLOCK_M=16, BLOCK_N=16, num_warps=1))
        s = (q.double() @ k.double().transpose(1, 2)) * 0.25
        s = s.masked_fill(torch.ones(S, S, dtype=torch.bool).triu(1), float("-inf"))
        assert_close(o, torch.softmax(s, -1) @ v.double(), "f32", S)
        # f16 (p is rounded to f16 before `@ v`, as written): against the reference interpreter
        qh, kh, vh = q.half(), k.half(), v.half()
        got, ref = poisoned((BH, S, D), torch.float16), poisoned((BH, S, D), torch.float16)
        run(K.attention_kernel, qh, kh, vh, got, 0.25, config=tl.Config(BLOCK_M=16, BLOCK_N=16, num_warps=1))
        K.attention_kernel(qh, kh, vh, ref, 0.25, config=tl.Config(BLOCK_M=16, BLOCK_N=16), backend="reference")
        torch.testing.assert_close(got, ref, rtol=2e-3, atol=2e-3)
    else:
        x, y = torch.randn(13, 21), torch.randn(13, 21)
        of, ob = poisoned((13, 21), torch.float32), torch.zeros(13, 21, dtype=torch.bool)
        run(K.elementwise_kernel, x, y, of, ob, 0.75, config=tl.Config(num_warps=1))
        a, b = x.double(), y.double()
        r = torch.where(a > b, a.abs().sqrt() * 0.75, torch.exp(-b * b) - 1.5)
        r = torch.maximum(r, torch.minimum(a, b)) + torch.sigmoid(a) * torch.log(1.0 + b * b)
        assert_close(of, r, "f32")
        assert torch.equal(ob, (x < 0) | (y >= 1))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@pytest.mark.parametrize("blocks", [(32, 64, 16), (16, 16, 16), (64, 32, 32)])
def test_mfma_gemm_rendered_source_in_the_emulation(dtype, blocks):
    """The MFMA calls and their lane layouts, as rendered, against float64 torch (32x32x8 and
    16x16x16 instructions; two waves share the blocks in the last case)."""
    dt = {"f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    torch.manual_seed(2)
    a, b = torch.randn(45, 37).to(dt), torch.randn(37, 70).to(dt)
    c = poisoned((45, 70), dt)
    bm, bn, bk = blocks
    r = run_hip_emulated(matmul_kernel, a, b, c, config=tl.Config(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk,
                                                                   num_warps=2 if bm == 64 else 1))
    assert "__builtin_amdgcn_mfma_f32_" in r.source
    assert_close(c, a.double() @ b.double(), dtype, 37)


# ---- code objects -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def all_kernels_code_objects():
    """Every test/stdlib kernel in one translation unit per arch (one hipcc run each)."""
    rs = [rendered(k, s, fixed=WHOLE.get(k.name), default_tile=16) for k, s in every_signature()]
    rs.append(rendered(matmul_kernel, F16))  # the default config's GEMM, with MFMA
    rs[-1] = dataclasses.replace(rs[-1], source=rs[-1].source.replace("void __launch_bounds__(256) matmul_kernel(",
                                                                      "void __launch_bounds__(256) matmul_f16_default("),
                                 entry="matmul_f16_default")
    source = rs[0].prelude + "\n" + "\n".join(r.source[len(r.prelude):] for r in rs)
    return {arch: tc.compile_hip(source, arch, "all_kernels") for arch in BUILD_ARCHS}, rs


@pytest.mark.slow
@needs_hipcc
@pytest.mark.parametrize("arch", BUILD_ARCHS)
def test_every_kernel_compiles_to_a_code_object(all_kernels_code_objects, arch):
    builds, rs = all_kernels_code_objects
    co, asm = builds[arch]
    assert co[:4] == b"\x7fELF"
    assert f"amdgcn-amd-amdhsa--{arch}" in asm
    resources = tc.kernel_resources(co)
    for r in rs:
        assert r.entry in resources, r.entry
        assert resources[r.entry]["wavefront_size"] == 64
        # no scratch (private segment) and no spills for any kernel
        assert resources[r.entry]["scratch_bytes"] == 0, (r.entry, resources[r.entry])
        assert resources[r.entry].get("vgpr_spills", 0) == 0 and resources[r.entry].get("sgpr_spills", 0) == 0
    dis = tc.disassemble(co, arch)
    gemm = _kernel_text(dis, "matmul_f16_default")
    assert re.search(r"v_mfma_f32_32x32x8_?f16", gemm)  # LLVM 19 spells it v_mfma_f32_32x32x8_f16
    assert "s_barrier" in gemm and "ds_write" in gemm and "ds_read" in gemm


@needs_hipcc
# gfx940 spells the bf16 one v_mfma_f32_32x32x8_bf16, gfx90a v_mfma_f32_32x32x8bf16_1k
@pytest.mark.parametrize("dtype,inst", [("f16", r"v_mfma_f32_32x32x8_?f16"), ("bf16", r"v_mfma_f32_32x32x8_?bf16")])
def test_default_gemm_has_mfma_and_no_scratch(dtype, inst):
    arch = HAVE[-1]
    r = rendered(matmul_kernel, {n: ArgSpec("tensor", dtype, 2) for n in "abc"})
    co, asm = tc.compile_hip(r.source, arch, f"gemm_{dtype}")
    dis = tc.disassemble(co, arch)
    assert re.search(inst, _kernel_text(dis, "matmul_kernel"))
    res = tc.kernel_resources(co)["matmul_kernel"]
    assert res["scratch_bytes"] == 0 and res["vgpr_spills"] == 0, res


ATTENTION_F16 = ({"*": "f16", "scale": "f32"}, {"D": 64}, tl.Config(BLOCK_M=32, BLOCK_N=32))


@needs_hipcc
def test_attention_has_mfma_and_no_scratch():
    """Both products of the online-softmax attention (q @ k.T and p @ v) run on matrix cores."""
    from tilelang.api import kernel_signature_from_options

    dtypes, fixed, config = ATTENTION_F16
    mk = lowered(K.attention_kernel, kernel_signature_from_options(K.attention_kernel, dtypes, {}), config, fixed)
    dots = [s for s in M.walk(mk.body) if isinstance(s, M.Compute) and getattr(s.value, "name", "") == "dot"]
    assert len(dots) == 2 and all(isinstance(d.map, F.FragmentMap) for d in dots)
    arch = HAVE[-1]
    co, _ = tc.compile_hip(render_hip(mk).source, arch, "attention")
    assert re.search(r"v_mfma_f32_16x16x16_?f16", _kernel_text(tc.disassemble(co, arch), "attention_kernel"))
    res = tc.kernel_resources(co)["attention_kernel"]
    assert res["scratch_bytes"] == 0 and res["vgpr_spills"] == 0, res


@pytest.mark.slow
def test_mfma_attention_rendered_source_in_the_emulation():
    """f16 attention with both products on MFMA (32x32x8 for the scores, 16x16x16 for p @ v at
    head dim 16), the rendered source emulated, against the reference interpreter."""
    torch.manual_seed(3)
    BH, S, D = 2, 37, 16
    q, k, v = (torch.randn(BH, S, D).half() for _ in range(3))
    got, ref = poisoned((BH, S, D), torch.float16), poisoned((BH, S, D), torch.float16)
    cfg = tl.Config(BLOCK_M=32, BLOCK_N=32, num_warps=1)
    r = run_hip_emulated(K.attention_kernel, q, k, v, got, 0.25, config=cfg)
    assert "mfma_f32_32x32x8f16" in r.source and "mfma_f32_16x16x16f16" in r.source
    K.attention_kernel(q, k, v, ref, 0.25, config=cfg, backend="reference")
    torch.testing.assert_close(got, ref, rtol=2e-3, atol=2e-3)
    s = (q.double() @ k.double().transpose(1, 2)) * 0.25
    s = s.masked_fill(torch.ones(S, S, dtype=torch.bool).triu(1), float("-inf"))
    assert_close(got, torch.softmax(s, -1) @ v.double(), "f16", S * 4)


class HipCheckBackend(HipEmuBackend):
    """A test backend: each kernel a call compiles is rendered for HIP and built to a code object
    (which must use no scratch and spill nothing), then run as the emulated HIP source, so stdlib
    entry points that compile their own kernels are checked end to end."""

    name = "hip-check"

    def __init__(self):
        self.built: list[str] = []

    def compile_with(self, kernel, key, config):
        r = render_hip(memory_program(kernel, config or tl.Config()))
        co, _ = tc.compile_hip(r.source, HAVE[-1], kernel.name)
        res = tc.kernel_resources(co)[r.entry]
        assert res["scratch_bytes"] == 0 and res["vgpr_spills"] == 0, (r.entry, res)
        self.built.append(r.entry)
        return super().compile_with(kernel, key, config)


@pytest.mark.slow
@needs_hipcc
def test_stdlib_lightning_attention_builds_and_runs(monkeypatch):
    """stdlib.lightning_attention, forward and backward, every kernel built to a code object and
    run as emulated HIP, against the float64 recurrence."""
    from tilelang import backend as backends
    from test_stdlib_lightning import SMALL, check_forward_backward, inputs

    backends._load_builtin_backends()
    be = HipCheckBackend()
    monkeypatch.setitem(backends._REGISTRY, "hip-check", be)
    check_forward_backward(*inputs(1, 2, 19, 8, 12, "f32", 5), "f32", "hip-check",
                           tl.Config(BLOCK_N=16, BLOCK_E=8, num_warps=1))
    assert len(be.built) >= 2


def test_line_directives_point_at_the_users_source():
    r = rendered(matmul_kernel, F16)
    directives = re.findall(r'#line (\d+) "([^"]+)"', r.source)
    assert directives and all(f.endswith("stdlib/gemm.py") for _, f in directives)
    text = (REPO / "stdlib" / "gemm.py").read_text().splitlines()
    assert any("@" in text[int(n) - 1] for n, _ in directives)


def _check_golden(name: str, text: str):
    text = text.replace(str(REPO) + "/", "")
    path = GOLDEN / name
    if os.environ.get("TILELANG_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with TILELANG_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file (TILELANG_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("name", ["matmul_f16", "softmax_f32", "attention_f16"])
def test_generated_hip_matches_golden(name):
    if name == "matmul_f16":
        r = rendered(matmul_kernel, F16)
    elif name == "attention_f16":
        from tilelang.api import kernel_signature_from_options

        dtypes, fixed, config = ATTENTION_F16
        r = rendered(K.attention_kernel, kernel_signature_from_options(K.attention_kernel, dtypes, {}), config, fixed)
    else:
        r = rendered(K.softmax_kernel, {n: ArgSpec("tensor", "f32", 2) for n in ("x", "out")},
                     tl.Config(BLOCK_M=32, BLOCK_N=32))
    _check_golden(f"{name}.hip", r.source[len(r.prelude):])


@needs_hipcc
def test_pipelined_f32_gemm_keeps_an_lds_ring_and_swizzled_softmax_compiles():
    """Double-buffered LDS from the pipelining pass (num_stages copies of each operand tile, filled
    one iteration ahead) and an XOR-swizzled LDS tile from the swizzle pass, both built."""
    cfg = tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=16, num_stages=3, num_warps=1)
    mk = lowered(matmul_kernel, {n: ArgSpec("tensor", "f32", 2) for n in "abc"}, cfg)
    rings = [b for b in mk.buffers if b.ring]
    assert len(rings) == 2 and all(b.ring[1] == 3 for b in rings)
    r = render_hip(mk)
    assert r.shared_bytes >= 3 * (32 * 16 + 16 * 32) * 4 and "tl_cp_async4" in r.source
    co, _ = tc.compile_hip(r.source, HAVE[-1], "gemm_ring")
    assert tc.kernel_resources(co)["matmul_kernel"].get("lds_bytes", 0) == 0  # dynamic LDS: sized at launch
    sm = lowered(K.softmax_kernel, {n: ArgSpec("tensor", "f32", 2) for n in ("x", "out")},
                 tl.Config(BLOCK_M=32, BLOCK_N=32))
    assert any(b.swizzle for b in sm.buffers)
    co, _ = tc.compile_hip(render_hip(sm).source, HAVE[-1], "softmax")
    assert tc.kernel_resources(co)["softmax_kernel"]["scratch_bytes"] == 0


def test_too_much_lds_is_a_located_backend_error():
    with pytest.raises(BackendError, match="bytes of shared memory") as e:
        rendered(K.softmax_kernel, {n: ArgSpec("tensor", "f32", 2) for n in ("x", "out")},
                 tl.Config(BLOCK_M=128, BLOCK_N=256))
    assert "kernels.py" in str(e.value)


# ---- ahead of time and the CLI ----------------------------------------------------------------------

def _compile(target, out, kernel="stdlib/gemm.py::matmul_kernel", dtype="f16"):
    return subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", kernel, "--dtype", dtype,
                           "--target", target, "-o", str(out)], cwd=REPO, capture_output=True, text=True)


@needs_hipcc
def test_aot_writes_source_code_object_assembly_and_manifest(tmp_path):
    arch = HAVE[-1]
    res = _compile(f"hip:{arch}", tmp_path)
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "matmul_kernel.json").read_text())
    assert {"matmul_kernel.hip", "matmul_kernel.co", "matmul_kernel.s", "matmul_kernel.dis.s"} <= set(m["files"])
    assert m["arch"] == arch and m["launch_api"] == "hip-runtime" and m["threads_per_block"] == 256
    assert m["resources"]["scratch_bytes"] == 0 and m["wavefront_size"] == 64
    assert (tmp_path / "matmul_kernel.co").read_bytes()[:4] == b"\x7fELF"
    assert "v_mfma" in (tmp_path / "matmul_kernel.dis.s").read_text()
    assert "v_mfma" in (tmp_path / "matmul_kernel.s").read_text()
    assert "hipModuleLaunchKernel" in (tmp_path / "matmul_kernel.c").read_text()
    if Path("/usr/include/hip/hip_runtime_api.h").exists():  # the launcher compiles against the HIP runtime
        cc = subprocess.run(["gcc", "-fsyntax-only", "-D__HIP_PLATFORM_AMD__", str(tmp_path / "matmul_kernel.c")],
                            capture_output=True, text=True)
        assert cc.returncode == 0, cc.stderr


@needs_hipcc
def test_gfx942_builds_or_is_refused_naming_the_supported_archs(tmp_path):
    """hip:gfx942 (MI300X): Debian's hipcc (clang 15) lacks it, clang-19 builds it."""
    bad = _compile("hip:gfx1234", tmp_path)
    assert bad.returncode == 1 and "gfx90a" in bad.stderr and "Traceback" not in bad.stderr
    res = _compile("hip:gfx942", tmp_path)
    if "gfx942" in HAVE:
        assert res.returncode == 0, res.stderr
        m = json.loads((tmp_path / "matmul_kernel.json").read_text())
        assert m["arch"] == "gfx942" and m["resources"]["scratch_bytes"] == 0
        assert "amdgcn-amd-amdhsa--gfx942" in (tmp_path / "matmul_kernel.s").read_text()
        assert re.search(r"v_mfma_f32_32x32x8_?f16", (tmp_path / "matmul_kernel.dis.s").read_text())
    else:  # names the ones it has
        assert res.returncode == 1 and "supports gfx942" in res.stderr and HAVE[-1] in res.stderr
        assert "Traceback" not in res.stderr


def test_cli_prints_the_mfma_fragment_maps():
    res = subprocess.run([sys.executable, "-m", "tilelang.cli", "ir", "stdlib/gemm.py::matmul_kernel", "--dtype", "f16",
                          "--backend", "hip", "--after", "lower_memory"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "map fragment mfma_32x32x8_c [2, 2]" in res.stdout and "threads 256" in res.stdout


def test_hip_backend_is_never_a_silent_default():
    from tilelang import backend as backends

    assert backends.get("hip").default_on == ()
    if not HipBackend().available()[0]:
        with pytest.raises(tl.TileLangError, match="not usable"):
            K.add_kernel(torch.ones(3), torch.ones(3), torch.empty(3), backend="hip")
