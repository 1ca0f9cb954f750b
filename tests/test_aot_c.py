"""Deployment with no Python: gcc builds the generated C launchers with the compiled kernels into C
programs, which run GEMM and softmax on shapes that are not tile multiples; results are checked
against float64 references computed here. CUDA / HIP launchers are compiled against real headers."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilelang.config import Config

ROOT = Path(__file__).resolve().parents[1]
GEMM = f"{ROOT / 'stdlib' / 'gemm.py'}::matmul_kernel"
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")

KERNELS_FILE = '''
import tilelang as tl


@tl.tile
def gemm(a, b, c):
    M, K = a.shape
    K, N = b.shape
    M, N = c.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = acc.to(c.dtype)


@tl.tile
def softmax(x, out):
    M, N = x.shape
    M, N = out.shape
    for m in tl.tile(M):
        row_max = tl.full([m], float("-inf"), tl.float32)
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=float("-inf")).to(tl.float32)
            row_max = tl.maximum(row_max, tl.max(v, axis=1))
        denom = tl.zeros([m], tl.float32)
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=float("-inf")).to(tl.float32)
            denom += tl.sum(tl.exp(v - row_max[:, None]), axis=1)
        for n in tl.tile(N):
            v = tl.load(x[m, n], other=float("-inf")).to(tl.float32)
            out[m, n] = (tl.exp(v - row_max[:, None]) / denom[:, None]).to(out.dtype)


@tl.tile
def affine(x, out, alpha, shift):
    M, N = x.shape
    M, N = out.shape
    for m, n in tl.tile([M, N]):
        out[m, n] = (x[m, n] * alpha + shift).to(out.dtype)
'''

# A C program that runs one launcher. Inputs come from a binary file; outputs start as NaN (poisoned)
# and go to another file; it prints the launcher's status. `b` is passed transposed (strides 1, K)
# to exercise strides. OFFSET_A shifts `a` by one byte to test the alignment check.
GEMM_MAIN = r'''
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "LIB.h"
#ifdef ELEM_F16
typedef uint16_t elem;     /* f16 bits */
#define POISON 0x7e00      /* an f16 NaN */
#else
typedef float elem;
#define POISON NAN
#endif
int main(int argc, char **argv) {
    long M = atol(argv[1]), K = atol(argv[2]), N = atol(argv[3]);
    int offset_a = argc > 6 ? atoi(argv[6]) : 0;
    FILE *f = fopen(argv[4], "rb");
    char *abuf = malloc(M * K * sizeof(elem) + 64);
    elem *a = (elem *)(abuf + offset_a), *bt = malloc(K * N * sizeof(elem) + 4), *c = malloc(M * N * sizeof(elem) + 4);
    if (fread(a, sizeof(elem), M * K, f) != (size_t)(M * K) || fread(bt, sizeof(elem), K * N, f) != (size_t)(K * N)) return 90;
    fclose(f);
    for (long i = 0; i < M * N; i++) c[i] = POISON;
    int status = gemm(a, K, 1, bt, 1, K, c, N, 1, M, K, N);
    printf("%d\n", status);
    f = fopen(argv[5], "wb");
    fwrite(c, sizeof(elem), M * N, f);
    fclose(f);
    return 0;
}
'''

SOFTMAX_MAIN = r'''
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "LIB.h"
int main(int argc, char **argv) {
    long M = atol(argv[1]), N = atol(argv[2]);
    float *x = malloc(M * N * sizeof(float) + 4), *y = malloc(M * N * sizeof(float) + 4);
    FILE *f = fopen(argv[3], "rb");
    if (fread(x, sizeof(float), M * N, f) != (size_t)(M * N)) return 90;
    fclose(f);
    for (long i = 0; i < M * N; i++) y[i] = NAN;
#ifdef AFFINE
    printf("%d\n", affine(x, N, 1, y, N, 1, -2.5, 7, M, N));  /* a float and an int scalar */
#else
    printf("%d\n", softmax(x, N, 1, y, N, 1, M, N));
#endif
    f = fopen(argv[4], "wb");
    fwrite(y, sizeof(float), M * N, f);
    fclose(f);
    return 0;
}
'''


def tilelang_compile(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", *args], capture_output=True, text=True,
                       cwd=cwd or ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr
    return r


def gcc_program(out: Path, lib: str, main_src: str, name: str, flags=()) -> Path:
    (out / f"{name}.c").write_text(main_src.replace("LIB.h", f"{lib}.h"))
    exe = out / name
    cmd = ["gcc", "-std=c11", "-O1", "-Wall", "-Werror", *flags, f"-I{out}", str(out / f"{name}.c"), str(out / f"{lib}.c"),
           *sorted(glob.glob(str(out / "*.o"))), "-lm", "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def run_gemm(exe: Path, tmp: Path, M, K, N, seed, offset_a=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    inp, outp = tmp / f"in-{seed}.bin", tmp / f"out-{seed}.bin"
    with open(inp, "wb") as f:
        a.tofile(f)
        np.ascontiguousarray(b.T).tofile(f)  # the program passes b with strides (1, K)
    r = subprocess.run([str(exe), str(M), str(K), str(N), str(inp), str(outp), str(offset_a)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    c = np.fromfile(outp, dtype=np.float32).reshape(M, N)
    return int(r.stdout.strip()), c, a.astype(np.float64) @ b.astype(np.float64)


def assert_close64(actual, expected, reduction_len):
    assert not np.isnan(actual).any(), "output has NaN: some elements were not written"
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-6 * reduction_len * scale + 2e-8)


@pytest.fixture(scope="module")
def cpu_library(tmp_path_factory):
    """Both kernels of one file compiled for the cpu target into one library, and two C programs."""
    out = tmp_path_factory.mktemp("aotlib")
    src = out / "mykernels.py"
    src.write_text(KERNELS_FILE)
    tilelang_compile(str(src), "--target", "cpu", "--dtype", "f32", "--dtype", "shift=i32", "--config", "BLOCK_M=32", "--config",
                     "BLOCK_N=32", "--config", "BLOCK_K=16", "-o", str(out / "build"))
    build = out / "build"
    # GEMM runs its grid on 3 pthreads (-DTILELANG_AOT_THREADS=3), softmax in the calling thread.
    gemm = gcc_program(build, "mykernels", GEMM_MAIN, "gemm_main", ["-DTILELANG_AOT_THREADS=3", "-pthread"])
    return build, gemm, gcc_program(build, "mykernels", SOFTMAX_MAIN, "softmax_main")


@needs_gcc
@settings(max_examples=6)
@given(M=st.integers(1, 80), K=st.integers(1, 70), N=st.integers(1, 80), seed=st.integers(0, 2**16))
def test_c_program_runs_gemm(cpu_library, tmp_path_factory, M, K, N, seed):
    build, gemm_exe, _ = cpu_library
    status, c, ref = run_gemm(gemm_exe, tmp_path_factory.mktemp("g"), M, K, N, seed)
    assert status == 0
    assert_close64(c.astype(np.float64), ref, K)


@needs_gcc
@settings(max_examples=5)
@given(M=st.integers(1, 70), N=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_c_program_runs_softmax(cpu_library, tmp_path_factory, M, N, seed):
    build, _, softmax_exe = cpu_library
    tmp = tmp_path_factory.mktemp("s")
    x = (np.random.default_rng(seed).standard_normal((M, N)) * 4).astype(np.float32)
    x.tofile(tmp / "x.bin")
    r = subprocess.run([str(softmax_exe), str(M), str(N), str(tmp / "x.bin"), str(tmp / "y.bin")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout + r.stderr
    y = np.fromfile(tmp / "y.bin", dtype=np.float32).reshape(M, N).astype(np.float64)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    assert_close64(y, e / e.sum(axis=1, keepdims=True), N)


@needs_gcc
def test_library_manifests_are_complete(cpu_library):
    build, _, _ = cpu_library
    header = (build / "mykernels.h").read_text()
    assert "int gemm(const float *a, int64_t a_stride0" in header and "int softmax(" in header
    m = json.loads((build / "gemm.json").read_text())
    assert m["format"] == "tilelang-aot-manifest" and m["launch_api"] == "c-call"
    assert m["sizes"] == ["M", "K", "N"] and m["binary"]["symbol"] == "tl_gemm"
    kinds = [p["kind"] for p in m["params"]]
    assert kinds[:5] == ["data_ptr", "size", "size", "stride", "stride"] and kinds[-1] == "size_expr"
    assert {"tilelang", "python", "llvmlite"} <= set(m["toolchain"])


@needs_gcc
def test_launcher_reports_specialization_violations(tmp_path):
    """A binary compiled for K == 48 and M % 8 == 0 refuses other sizes with a status, never runs them."""
    src = tmp_path / "k.py"
    src.write_text(KERNELS_FILE)
    out = tmp_path / "build"
    tilelang_compile(f"{src}::gemm", "--target", "cpu", "--dtype", "f32", "--shape", "K=48", "--divisible", "M=8",
                     "-o", str(out))
    exe = gcc_program(out, "gemm", GEMM_MAIN, "gemm_main")
    status, c, ref = run_gemm(exe, tmp_path, 24, 48, 37, 1)
    assert status == 0
    assert_close64(c.astype(np.float64), ref, 48)
    assert run_gemm(exe, tmp_path, 24, 47, 37, 2)[0] == 2  # TL_ERR_SPECIALIZATION: K is fixed at 48
    status, c, _ = run_gemm(exe, tmp_path, 20, 48, 37, 3)
    assert status == 2 and np.isnan(c).all()  # M % 8 != 0: nothing launched
    assert run_gemm(exe, tmp_path, 24, 48, 37, 4, offset_a=1)[0] == 3  # TL_ERR_ALIGNMENT
    m = json.loads((out / "gemm.json").read_text())
    assert m["specialization"] == {"fixed": {"K": 48}, "divisible_by": {"M": 8}}


@needs_gcc
def test_dispatcher_picks_nearest_tuned_class(tmp_path):
    """Several configs, one entry point: shapes pick the nearest class whose promises they keep."""
    from tilelang import backend as backends
    from tilelang.aot.build import KernelJob, build_library
    from tilelang.api import kernel_signature_from_options
    from tilelang.frontend.source import file_kernels

    src = tmp_path / "k.py"
    src.write_text(KERNELS_FILE)
    gemm = next(k for k in file_kernels(str(src)) if k.name == "gemm")
    sig = kernel_signature_from_options(gemm, {"*": "f32"}, {})
    tuned = [({"M": 64, "N": 64, "K": 64}, Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16)),
             ({"M": 512, "N": 512, "K": 512}, Config(BLOCK_M=64, BLOCK_N=64, BLOCK_K=64))]
    out = tmp_path / "build"
    job = KernelJob(gemm, sig, Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=32), tuned=tuned)
    build_library([job], backends.get("cpu"), "cpu", out, "tuned")
    m0 = json.loads((out / "gemm__t0.json").read_text())
    assert m0["specialization"]["divisible_by"] == {"M": 16, "N": 16, "K": 16}
    assert m0["config"]["tiles"] == {"BLOCK_K": 16, "BLOCK_M": 16, "BLOCK_N": 16}
    main = GEMM_MAIN.replace('printf("%d\\n", status);', 'printf("%d %s\\n", status, gemm_choice(M, K, N));')
    exe = gcc_program(out, "tuned", main, "gemm_main")
    for (M, K, N), want in [((48, 48, 48), "gemm__t0"), ((50, 48, 48), "gemm__default"),
                            ((192, 192, 192), "gemm__t1"), ((1024, 64, 64), "gemm__t0"),
                            ((33, 17, 5), "gemm__default"), ((640, 512, 576), "gemm__t1")]:
        rng_seed = M + K + N
        rng = np.random.default_rng(rng_seed)
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        with open(tmp_path / "in.bin", "wb") as f:
            a.tofile(f)
            np.ascontiguousarray(b.T).tofile(f)
        r = subprocess.run([str(exe), str(M), str(K), str(N), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        status, chosen = r.stdout.split()
        assert (status, chosen) == ("0", want), (M, K, N)
        c = np.fromfile(tmp_path / "out.bin", dtype=np.float32).reshape(M, N).astype(np.float64)
        assert_close64(c, a.astype(np.float64) @ b.astype(np.float64), K)


# ---- GPU launchers: compiled against real headers with no GPU ---------------------------------------------

def _triton_include(which: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("triton")
    return Path(spec.origin).parent / "backends" / which / "include"


def cuda_include_dirs() -> list[Path]:
    """cuda.h as Triton ships it (always, triton is a dependency), and a CUDA toolkit's when present."""
    dirs = [_triton_include("nvidia")]
    for env in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(env):
            dirs.append(Path(os.environ[env]) / "include")
    dirs += [Path(p) for p in sorted(glob.glob("/usr/local/cuda*/include"))]
    return [d for d in dict.fromkeys(dirs) if (d / "cuda.h").exists()]


def hip_include_dirs() -> list[Path]:
    """hip_runtime_api.h as Triton ships it, and Debian's libamdhip64-dev / a ROCm install when present."""
    dirs = [_triton_include("amd"), Path("/usr/include"), Path("/opt/rocm/include")]
    return [d for d in dirs if (d / "hip" / "hip_runtime_api.h").exists()]


USE_LAUNCHER = r'''
#include "LIB.h"
int use(const uint16_t *a, const uint16_t *b, uint16_t *c, STREAM s) { return matmul_kernel(a, 64, 1, b, 64, 1, c, 64, 1, 64, 64, 64, s); }
'''


@needs_gcc
@pytest.mark.slow
@pytest.mark.parametrize("target,includes,defines,stream", [
    ("triton-cuda:sm_90", cuda_include_dirs, [], "CUstream"),
    ("triton-hip:gfx942", hip_include_dirs, ["-D__HIP_PLATFORM_AMD__"], "hipStream_t"),
])
def test_gpu_launcher_compiles_against_headers(tmp_path, target, includes, defines, stream):
    dirs = includes()
    assert dirs, "triton ships these headers; none found"
    tilelang_compile(GEMM, "--target", target, "--dtype", "f16", "-o", str(tmp_path))
    m = json.loads((tmp_path / "matmul_kernel.json").read_text())
    hidden = [p for p in m["params"] if p.get("hidden")]
    assert len(m["params"]) == len(m["arguments"]) + len(hidden)  # every binary parameter, in order
    assert all(p["pass"] for p in m["params"]) and m["block"][0] == m["num_warps"] * m["warp_size"]
    assert m["toolchain"]["triton"] and ("ptx_isa" in m["toolchain"]) == ("cuda" in target)
    binary = (tmp_path / m["binary"]["file"]).read_bytes()
    source = (tmp_path / "matmul_kernel.c").read_text()
    assert f"static const unsigned char matmul_kernel_image[{len(binary)}]" in source  # embedded
    (tmp_path / "use.c").write_text(USE_LAUNCHER.replace("LIB.h", "matmul_kernel.h").replace("STREAM", stream))
    # The paths today's kernels do not take: scratch buffers and a shared-memory opt-in.
    from tilelang.aot import clib

    big = dict(m, shared_memory_bytes=100_000,
               params=[dict(p, bytes_per_program=256, buffer_align=16) if p.get("hidden") else p for p in m["params"]])
    (tmp_path / "big.h").write_text(clib.header("big", [("big_kernel", big)]))
    (tmp_path / "big.c").write_text(clib.source("big", [clib.Entry("big_kernel", big, binary)]))
    big_src = (tmp_path / "big.c").read_text()
    assert ("cuMemAllocAsync" in big_src) == ("cuda" in target) and ("hipMallocAsync" in big_src) == ("hip" in target)
    files = ["matmul_kernel.c", "use.c", "big.c"]
    if "cuda" in target:
        (tmp_path / "main.c").write_text(CUDA_MAIN)  # the GPU test's program, checked here with no GPU
        files.append("main.c")
        assert "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100000" in big_src
    for d in dirs:
        for compiler, std in (("gcc", "-std=c11"), ("g++", "-std=c++17")):
            if compiler == "g++" and shutil.which("g++") is None:
                continue
            for f in files:
                lang = ["-x", "c++"] if compiler == "g++" else []
                r = subprocess.run([compiler, std, *lang, "-Wall", "-Werror", "-c", *defines, f"-I{d}", f"-I{tmp_path}",
                                    str(tmp_path / f), "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
                assert r.returncode == 0, f"{compiler} with {d}: {r.stderr}"


def _cuda_device() -> bool:
    import ctypes.util

    return ctypes.util.find_library("cuda") is not None and shutil.which("nvidia-smi") is not None and \
        subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0


CUDA_MAIN = r'''
#include <stdio.h>
#include <stdlib.h>
#include "matmul_kernel.h"
#define CK(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { printf("driver %d at %d\n", (int)r_, __LINE__); return 1; } } while (0)
int main(int argc, char **argv) {
    long M = atol(argv[1]), K = atol(argv[2]), N = atol(argv[3]);
    size_t na = M * K * 2, nb = K * N * 2, nc = M * N * 2;
    unsigned char *h = (unsigned char *)malloc(na + nb + nc);
    FILE *f = fopen(argv[4], "rb");
    if (fread(h, 1, na + nb, f) != na + nb) return 90;
    fclose(f);
    for (size_t i = 0; i < nc; i += 2) { h[na + nb + i] = 0xff; h[na + nb + i + 1] = 0x7f; }  /* NaN */
    CUdevice dev; CUcontext ctx; CUdeviceptr a, b, c;
    CK(cuInit(0)); CK(cuDeviceGet(&dev, 0)); CK(cuDevicePrimaryCtxRetain(&ctx, dev)); CK(cuCtxSetCurrent(ctx));
    CK(cuMemAlloc(&a, na)); CK(cuMemAlloc(&b, nb)); CK(cuMemAlloc(&c, nc));
    CK(cuMemcpyHtoD(a, h, na)); CK(cuMemcpyHtoD(b, h + na, nb)); CK(cuMemcpyHtoD(c, h + na + nb, nc));
    int status = matmul_kernel((const uint16_t *)a, K, 1, (const uint16_t *)b, N, 1, (uint16_t *)c, N, 1, M, K, N, 0);
    CK(cuCtxSynchronize());
    CK(cuMemcpyDtoH(h + na + nb, c, nc));
    printf("%d\n", status);
    f = fopen(argv[5], "wb"); fwrite(h + na + nb, 1, nc, f); fclose(f);
    return 0;
}
'''


@needs_gcc
@pytest.mark.skipif(not _cuda_device(), reason="needs an NVIDIA GPU and its driver (libcuda)")
def test_c_program_launches_cubin_on_gpu(tmp_path):
    import ctypes.util

    cap = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"], capture_output=True,
                         text=True).stdout.split()[0]
    tilelang_compile(GEMM, "--target", f"triton-cuda:sm_{cap.replace('.', '')}", "--dtype", "f16", "-o", str(tmp_path))
    (tmp_path / "main.c").write_text(CUDA_MAIN)
    inc = cuda_include_dirs()[0]
    r = subprocess.run(["gcc", "-std=c11", f"-I{inc}", f"-I{tmp_path}", str(tmp_path / "main.c"),
                        str(tmp_path / "matmul_kernel.c"), f"-l:{ctypes.util.find_library('cuda')}",
                        "-o", str(tmp_path / "main")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    M, K, N = 300, 129, 257
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((M, K)).astype(np.float16), rng.standard_normal((K, N)).astype(np.float16)
    with open(tmp_path / "in.bin", "wb") as f:
        a.tofile(f)
        b.tofile(f)
    r = subprocess.run([str(tmp_path / "main"), str(M), str(K), str(N), str(tmp_path / "in.bin"),
                        str(tmp_path / "out.bin")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout + r.stderr
    c = np.fromfile(tmp_path / "out.bin", dtype=np.float16).reshape(M, N).astype(np.float64)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert not np.isnan(c).any()
    np.testing.assert_allclose(c, ref, rtol=2 ** -10, atol=2e-6 * K * max(1.0, np.abs(ref).max()) + 1e-3)


@needs_gcc
def test_deployment_doc_walkthrough_runs(tmp_path):
    """docs/deployment.md's C program and gcc command, exactly as written, print what the doc says."""
    doc = (ROOT / "docs" / "deployment.md").read_text()
    program = doc.split("## 3.", 1)[1].split("```c\n", 1)[1].split("```", 1)[0]
    build = doc.split("## 3.", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0].strip()
    compile_cmd = doc.split("## 2.", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0].strip()
    assert compile_cmd.startswith("tilelang compile stdlib/gemm.py::matmul_kernel --target cpu")
    tilelang_compile(*compile_cmd.split()[2:-1], str(tmp_path / "out"))
    (tmp_path / "main.c").write_text(program)
    r = subprocess.run(build, shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize("extra,message", [
    (["--shape", "Q=4"], "no kernel in"),
    (["--name", "my-lib"], "is not a C identifier"),
])
def test_whole_file_errors_are_clear(tmp_path, extra, message):
    src = tmp_path / "k.py"
    src.write_text(KERNELS_FILE)
    r = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", str(src), "--target", "cpu", "--dtype", "f32",
                        *extra, "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_file_without_kernels_is_an_error(tmp_path):
    src = tmp_path / "empty.py"
    src.write_text("x = 1\n")
    r = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", str(src), "--target", "cpu", "--dtype", "f32",
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 1 and "defines no @tl.tile kernel" in r.stderr, r.stderr


@needs_gcc
def test_c_program_runs_f16_gemm(tmp_path):
    """f16 tensors cross the C API as uint16_t bits; accumulation is f32, the output rounded to f16."""
    src = tmp_path / "k.py"
    src.write_text(KERNELS_FILE)
    out = tmp_path / "build"
    tilelang_compile(f"{src}::gemm", "--target", "cpu", "--dtype", "f16", "-o", str(out))
    assert "uint16_t *c, int64_t c_stride0" in (out / "gemm.h").read_text()
    exe = gcc_program(out, "gemm", GEMM_MAIN, "gemm_main", ["-DELEM_F16"])
    M, K, N = 67, 45, 93
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((M, K)).astype(np.float16), rng.standard_normal((K, N)).astype(np.float16)
    with open(tmp_path / "in.bin", "wb") as f:
        a.tofile(f)
        np.ascontiguousarray(b.T).tofile(f)
    r = subprocess.run([str(exe), str(M), str(K), str(N), str(tmp_path / "in.bin"), str(tmp_path / "o.bin")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout + r.stderr
    c = np.fromfile(tmp_path / "o.bin", dtype=np.float16).reshape(M, N).astype(np.float64)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert not np.isnan(c).any()
    np.testing.assert_allclose(c, ref, rtol=2 ** -10, atol=2e-6 * K * max(1.0, np.abs(ref).max()) + 2 ** -10)


@needs_gcc
def test_c_program_passes_scalars(cpu_library, tmp_path):
    build, _, _ = cpu_library
    exe = gcc_program(build, "mykernels", SOFTMAX_MAIN, "affine_main", ["-DAFFINE"])
    M, N = 19, 45
    x = np.random.default_rng(3).standard_normal((M, N)).astype(np.float32)
    x.tofile(tmp_path / "x.bin")
    r = subprocess.run([str(exe), str(M), str(N), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stdout + r.stderr
    y = np.fromfile(tmp_path / "y.bin", dtype=np.float32).reshape(M, N).astype(np.float64)
    assert_close64(y, x.astype(np.float64) * -2.5 + 7, 2)


RANGE_MAIN = r'''
#include <stdio.h>
#include "LIB.h"
int main(void) {
    /* N = 2**31 + 5: the softmax computes with i32 tile positions (its reductions skip padded
       positions), so the library refuses before touching memory (NULL data is never read). */
    long long N = 2147483653LL;
    printf("%d\n", softmax(NULL, N, 1, NULL, N, 1, 1, N));
    return 0;
}
'''


@needs_gcc
def test_cpu_library_refuses_sizes_its_i32_positions_cannot_hold(cpu_library):
    build, _, _ = cpu_library
    exe = gcc_program(build, "mykernels", RANGE_MAIN, "range_main")
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "4", r.stdout + r.stderr  # TL_ERR_RANGE


def test_c_reserved_parameter_names_are_refused(tmp_path):
    src = tmp_path / "k.py"
    src.write_text("import tilelang as tl\n\n\n@tl.tile\ndef copy(double, stream):\n    (N,) = double.shape\n"
                   "    (N,) = stream.shape\n    for n in tl.tile(N):\n        stream[n] = double[n]\n")
    r = subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", str(src), "--target", "cpu", "--dtype", "f32",
                        "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 1 and "`double` cannot name a C launcher argument" in r.stderr, r.stderr


@needs_gcc
def test_cpu_library_links_as_a_shared_object(cpu_library, tmp_path):
    """The object is position-independent: a shared library needs no text relocations (-z text)."""
    build, _, _ = cpu_library
    r = subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-z,text", "-O1", str(build / "mykernels.c"),
                        *sorted(glob.glob(str(build / "*.o"))), "-lm", "-o", str(tmp_path / "libmykernels.so")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_hidden_parameters_follow_the_binary_not_a_fixed_count():
    """Older Triton versions append no scratch pointers, newer ones two: the manifest lists what the
    binary has, named from the metadata, and refuses a parameter list it cannot explain."""
    from tilelang import backend as backends
    from tilelang.api import kernel_signature_from_options
    from tilelang.backends.triton import binary_params
    from tilelang.backends.triton.render import render
    from tilelang.errors import BackendError
    from tilelang.frontend.source import parse_file_function

    gemm = parse_file_function(str(ROOT / "stdlib" / "gemm.py"), "matmul_kernel")
    final = gemm.final_ir(kernel_signature_from_options(gemm, {"*": "f16"}, {}), Config(), backends.get("triton"))
    tk = render(final)
    sig = tk.signature()
    visible = [{"bytes": 8 if t.startswith("*") else 4, "pointer": t.startswith("*")} for t in sig.values()]
    scratch = {"bytes": 8, "pointer": True}
    old = binary_params(tk, sig, visible, {})  # e.g. triton 3.2: no scratch fields, no extra params
    assert [p["name"] for p in old] == list(sig) and not any(p.get("hidden") for p in old)
    new = binary_params(tk, sig, visible + [scratch, scratch],
                        {"global_scratch_size": 0, "profile_scratch_size": 64, "profile_scratch_align": 8})
    assert [p["name"] for p in new[-2:]] == ["global_scratch", "profile_scratch"]
    assert new[-1]["bytes_per_program"] == 64 and new[-1]["buffer_align"] == 8 and "NULL" in new[-2]["pass"]
    mid = binary_params(tk, sig, visible + [scratch], {"global_scratch_size": 0})  # e.g. triton 3.3
    assert [p["name"] for p in mid[len(sig):]] == ["global_scratch"]
    with pytest.raises(BackendError, match="cannot be generated safely"):
        binary_params(tk, sig, visible + [scratch], {})  # a parameter nobody explains
    with pytest.raises(BackendError, match="cannot be generated safely"):
        binary_params(tk, sig, [dict(v, bytes=8) for v in visible], {})  # i64 where tilelang passes i32


HIP_MAIN = r'''
#include <stdio.h>
#include "matmul_kernel.h"
int main(void) {
    printf("%d\n", matmul_kernel((const uint16_t *)0, 64, 1, (const uint16_t *)0, 64, 1, (uint16_t *)0, 64, 1,
                                 64, 64, 64, (hipStream_t)0));
    return 0;
}
'''


@needs_gcc
@pytest.mark.skipif(not (Path("/usr/include/hip/hip_runtime_api.h").exists() and
                         glob.glob("/usr/lib/*/libamdhip64.so")),
                    reason="needs Debian's libamdhip64-dev (apt-get install libamdhip64-dev) to link a HIP program")
@pytest.mark.skipif(Path("/dev/kfd").exists(), reason="an AMD GPU is present: this checks the no-GPU error path")
def test_hip_program_links_and_reports_no_device(tmp_path):
    """Linked against the real HIP runtime, the launcher's calls resolve; with no AMD GPU it returns a
    status (no crash, nothing launched)."""
    tilelang_compile(GEMM, "--target", "triton-hip:gfx942", "--dtype", "f16", "-o", str(tmp_path))
    (tmp_path / "main.c").write_text(HIP_MAIN)
    r = subprocess.run(["gcc", "-std=c11", "-Wall", "-Werror", "-D__HIP_PLATFORM_AMD__", f"-I{tmp_path}",
                        str(tmp_path / "main.c"), str(tmp_path / "matmul_kernel.c"), "-lamdhip64",
                        "-o", str(tmp_path / "main")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    status = int(r.stdout.strip())
    assert status == 5 or status > 1000, status  # TL_ERR_NO_CONTEXT or TL_ERR_DRIVER_BASE + hipError_t


UNSIGNED_KERNEL = '''
import tilelang as tl


@tl.tile
def mix(x, out, key):
    (N,) = x.shape
    (N,) = out.shape
    for n in tl.tile(N):
        out[n] = x[n] ^ key
'''

UNSIGNED_MAIN = r'''
#include <stdio.h>
#include <stdlib.h>
#include "mix.h"
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    uint32_t *x = malloc(n * 4 + 4), *y = malloc(n * 4 + 4);
    for (long i = 0; i < n; i++) { x[i] = (uint32_t)(i * 2654435761u); y[i] = 0xdeadbeefu; }
    int s = mix(x, 1, y, 1, 0xfedcba98u, n);
    unsigned long bad = 0;
    for (long i = 0; i < n; i++) bad += y[i] != (x[i] ^ 0xfedcba98u);
    printf("%d %lu\n", s, bad);
    return 0;
}
'''


@needs_gcc
def test_c_program_runs_unsigned_kernel(tmp_path):
    """u32 tensors and a u32 scalar above 2**31 cross the C API unchanged."""
    (tmp_path / "u.py").write_text(UNSIGNED_KERNEL)
    out = tmp_path / "build"
    tilelang_compile(f"{tmp_path / 'u.py'}::mix", "--target", "cpu", "--dtype", "u32", "-o", str(out))
    assert "int mix(const uint32_t *x, int64_t x_stride0, uint32_t *out, int64_t out_stride0, uint64_t key" in \
        (out / "mix.h").read_text()
    exe = gcc_program(out, "mix", UNSIGNED_MAIN, "mix_main")
    r = subprocess.run([str(exe), "1001"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["0", "0"], r.stdout + r.stderr
