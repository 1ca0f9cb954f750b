"""The CUDA backend without a GPU: generated source compiles with nvcc to PTX and cubin for sm_80 and
sm_90a, the PTX holds what the lowering promised, golden files pin the source, AOT writes the
artifacts, and the launcher's argument packing matches the kernel's parameters. (Correctness of the
generated code for every kernel is checked in test_lowir.py through the CUDA emulation.) With a
CUDA GPU, kernels also run for real with backend="cuda"."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tilelang as tl
from tilelang.backends.cuda import CudaBackend, memory_program
from tilelang.backends.cuda.launch import pack_arguments
from tilelang.backends.cuda.render import render_cuda
from tilelang.backends.cuda.toolchain import ARCHS, compile_cuda, toolchain
from tilelang.frontend.lower import ArgSpec
from tilelang.passes import PassContext, run_pipeline
from tilelang.stdlib import matmul_kernel

import kernels as K
from conftest import assert_close, poisoned
from test_ir_text import signatures

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
needs_compiler = pytest.mark.skipif(not toolchain(), reason="no nvcc or NVRTC")
has_gpu = torch.cuda.is_available() and CudaBackend().available()[0]


def rendered(kernel, sig, config=None, fixed=None, default_tile=None):
    config = config or tl.Config()
    be = CudaBackend()
    k = run_pipeline(kernel.lower(sig, fixed), PassContext(
        config=config, target="cuda", default_parallel_tile=default_tile or be.default_parallel_tile,
        default_sequential_tile=default_tile or be.default_sequential_tile))
    return render_cuda(memory_program(k, config))


def every_signature():
    """The test kernels of test_ir_text plus the other test and stdlib kernels."""
    from tilelang.api import kernel_signature_from_options
    from tilelang.stdlib import conv, conv_winograd

    ints = {n: "i32" for n in ("H", "W", "KH", "KW", "Wo", "stride", "pad", "C", "TH", "TW", "m", "Ho")}
    more = [(K.attention_kernel, {"*": "f16", "scale": "f32"}, {}),
            (K.kmeans_assign_kernel, {"*": "f32", "assign": "i32"}, {"assign": 1}),
            (K.moe_expert_rows_kernel, {"*": "f16", "rows": "i32"}, {}),
            (K.scatter_rows_kernel, {"*": "f32", "idx": "i32"}, {}),
            (conv.conv2d_direct_kernel, {"*": "f32", **ints}, {}), (conv.nchw_to_rows_kernel, {"*": "f32"}, {}),
            (conv_winograd.winograd_filter_kernel, {"*": "f32"}, {})]
    # (conv_winograd.winograd_fused_kernel takes constant parameters, which ahead-of-time signatures
    # do not; tests/test_lowir.py runs it through both memory-level runners.)
    return signatures() + [(k, kernel_signature_from_options(k, d, r)) for k, d, r in more]


# Sizes that whole-dimension tiles (`x[m, :]`) take: kernels are compiled for their values.
WHOLE = {"attention_kernel": {"D": 16}, "kmeans_assign_kernel": {"D": 8}}


@pytest.fixture(scope="module")
def all_kernels_ptx():
    """Every test/stdlib kernel in one translation unit per arch (one nvcc run each, to keep CI fast)."""
    # Small default tiles: the point is that every construct compiles, and the fully unrolled
    # per-thread loops of 64-wide tiles cost minutes of nvcc/ptxas time on a shared 2-core machine.
    rs = [rendered(k, s, fixed=WHOLE.get(k.name), default_tile=16) for k, s in every_signature()]
    source = rs[0].prelude + "\n" + "\n".join(r.source[len(r.prelude):] for r in rs)
    return {arch: compile_cuda(source, arch, "all_kernels") for arch in ARCHS}, rs


@pytest.mark.slow
@needs_compiler
@pytest.mark.parametrize("arch", ARCHS)
def test_every_kernel_compiles_to_ptx_and_cubin(all_kernels_ptx, arch):
    builds, rs = all_kernels_ptx
    ptx, cubin = builds[arch]
    assert f".target {arch}" in ptx
    assert cubin[:4] == b"\x7fELF"
    for r in rs:
        assert f".entry {r.entry}(" in ptx, r.entry
    # The barriers the lowering placed survive as bar.sync; shared operands are read from .shared.
    gemm = ptx[ptx.index(".entry matmul_kernel("):]
    gemm = gemm[:gemm.index("\n}\n")]
    assert "bar.sync" in gemm and "ld.shared" in gemm and "st.shared" in gemm


@needs_compiler
def test_cubin_is_built_from_the_ptx_for_sm_90a():
    r = rendered(K.add_kernel, {n: ArgSpec("tensor", "f32", 1) for n in ("x", "y", "out")})
    ptx, cubin = compile_cuda(r.source, "sm_90a", "add")
    assert ".target sm_90a" in ptx and cubin[:4] == b"\x7fELF"


def test_line_directives_point_at_the_users_source():
    r = rendered(matmul_kernel, signatures()[0][1])
    directives = re.findall(r'#line (\d+) "([^"]+)"', r.source)
    assert directives and all(f.endswith("stdlib/gemm.py") for _, f in directives)
    text = (REPO / "stdlib" / "gemm.py").read_text().splitlines()
    assert any("@" in text[int(n) - 1] for n, _ in directives)  # the `acc += a @ b` line is named


def _check_golden(name: str, text: str):
    text = text.replace(str(REPO) + "/", "")
    path = GOLDEN / name
    if os.environ.get("TILELANG_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with TILELANG_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file (TILELANG_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("name", ["matmul_f16", "softmax_f32"])
def test_generated_cuda_matches_golden(name):
    if name == "matmul_f16":
        r = rendered(matmul_kernel, {n: ArgSpec("tensor", "f16", 2) for n in "abc"})
    else:
        r = rendered(K.softmax_kernel, {n: ArgSpec("tensor", "f32", 2) for n in ("x", "out")},
                     tl.Config(BLOCK_M=32, BLOCK_N=32))
    _check_golden(f"{name}.cu", r.source[len(r.prelude):])


def test_argument_packing_follows_the_parameters():
    r = rendered(K.elementwise_kernel, signatures()[3][1])
    x, y = torch.randn(5, 7), torch.randn(5, 7).t().contiguous().t()
    args = {"x": x, "y": y, "out_f": torch.empty(5, 7), "out_b": torch.empty(5, 7, dtype=torch.bool), "scale": 0.5}
    values, types = pack_arguments(r, args, {"M": 5, "N": 7})
    params = r.source.split(f"{r.entry}(", 1)[1].split(") {", 1)[0].split(",")
    assert len(values) == len(types) == len(r.args) == len(params)
    assert values[:5] == (x.data_ptr(), 5, 7, 7, 1)
    assert values[5:10] == (y.data_ptr(), 5, 7, 1, 5)
    assert 0.5 in values


def test_aot_targets_write_source_ptx_and_cubin(tmp_path):
    if not toolchain():
        pytest.skip("no nvcc or NVRTC")
    out = tmp_path / "aot"
    res = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", "tests/kernels.py::add_kernel", "--dtype", "f32",
                          "--rank", "y=1", "--rank", "out=1", "--target", "cuda:sm_80", "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "add_kernel.json").read_text())
    assert {"add_kernel.cu", "add_kernel.ptx", "add_kernel.cubin"} <= set(manifest["files"])
    assert manifest["arch"] == "sm_80" and manifest["threads_per_block"] == 128
    assert (out / "add_kernel.cubin").read_bytes()[:4] == b"\x7fELF"
    bad = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", "tests/kernels.py::add_kernel", "--dtype",
                          "f32", "--rank", "y=1", "--rank", "out=1", "--target", "cuda:sm_75", "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 1 and "sm_80" in bad.stderr


def test_cuda_backend_is_never_a_silent_default():
    from tilelang import backend as backends

    assert backends.get("cuda").default_on == ()
    if not has_gpu:
        with pytest.raises(tl.TileLangError, match="not usable"):
            K.add_kernel(torch.ones(3), torch.ones(3), torch.empty(3), backend="cuda")


# ---- on a CUDA GPU: the real thing -------------------------------------------------------------------

@pytest.mark.skipif(not has_gpu, reason="needs a CUDA GPU (sm_80 or sm_90), cuda-python and nvcc/NVRTC")
@pytest.mark.parametrize("dtype", ["f32", "f16"])
def test_gpu_matmul_and_softmax(dtype):
    dt = {"f32": torch.float32, "f16": torch.float16}[dtype]
    a, b = torch.randn(70, 45, device="cuda").to(dt), torch.randn(45, 33, device="cuda").to(dt)
    c = poisoned((70, 33), dt, "cuda")
    matmul_kernel(a, b, c, backend="cuda")
    assert_close(c.cpu(), a.double().cpu() @ b.double().cpu(), dtype, 45)
    x = torch.randn(37, 300, device="cuda")
    out = poisoned((37, 300), torch.float32, "cuda")
    K.softmax_kernel(x, out, backend="cuda")
    assert_close(out.cpu(), torch.softmax(x.double().cpu(), 1), "f32", 300)


def test_cli_prints_the_memory_level_and_reads_it_back(tmp_path):
    from tilelang.memir.parser import parse_memkernel

    res = subprocess.run([sys.executable, "-m", "tilelang.cli", "ir", "stdlib/gemm.py::matmul_kernel", "--dtype", "f16",
                          "--backend", "cuda", "--after", "lower_memory"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = res.stdout.split("\n", 1)[1]
    mk = parse_memkernel(text)
    assert {b.space for b in mk.buffers} == {"shared", "local"}
    path = tmp_path / "gemm.mir"
    path.write_text(text)
    back = subprocess.run([sys.executable, "-m", "tilelang.cli", "ir", "--parse", str(path)], cwd=REPO,
                          capture_output=True, text=True)
    assert back.returncode == 0 and back.stdout.strip() == text.strip()
    wrong = subprocess.run([sys.executable, "-m", "tilelang.cli", "ir", "stdlib/gemm.py::matmul_kernel", "--dtype",
                            "f16", "--after", "lower_memory"], cwd=REPO, capture_output=True, text=True)
    assert wrong.returncode == 1 and "the steps are" in wrong.stderr


def test_too_much_shared_memory_is_a_located_backend_error():
    from tilelang.errors import BackendError

    with pytest.raises(BackendError, match="bytes of shared memory") as e:
        rendered(K.softmax_kernel, {n: ArgSpec("tensor", "f32", 2) for n in ("x", "out")},
                 tl.Config(BLOCK_M=256, BLOCK_N=256))
    assert "kernels.py" in str(e.value)


@needs_compiler
def test_pipelined_f32_gemm_ptx_has_cp_async():
    r = rendered(matmul_kernel, {n: ArgSpec("tensor", "f32", 2) for n in "abc"},
                 tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, num_stages=3))
    ptx, cubin = compile_cuda(r.source, "sm_80", "gemm_pipelined")
    assert "cp.async.cg.shared.global" in ptx and "cp.async.commit_group" in ptx  # 16-byte chunks
    assert "cp.async.wait_group 1" in ptx and cubin[:4] == b"\x7fELF"
    # rows of 2 words do not make 16-byte chunks: 4-byte copies per element
    r = rendered(matmul_kernel, {n: ArgSpec("tensor", "f32", 2) for n in "abc"},
                 tl.Config(BLOCK_M=16, BLOCK_N=2, BLOCK_K=2, num_stages=3))
    ptx, _ = compile_cuda(r.source, "sm_80", "gemm_pipelined_4")
    assert "cp.async.ca.shared.global" in ptx
