"""Finding and driving the CUDA compilers: nvcc when present (PATH, CUDA_HOME, or the PyPI
`nvidia-cuda-nvcc` wheel), else NVRTC through cuda-python. Both produce PTX and a cubin for an
architecture such as sm_80 or sm_90a, without a GPU."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tilelang.errors import BackendError

ARCHS = ("sm_80", "sm_90a")
# Warnings the generated code trips by design: index variables a statement does not need.
_NVCC_FLAGS = ["-std=c++17", "-diag-suppress", "177,550"]


@functools.cache
def find_nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return str(Path(root) / "bin" / "nvcc")
    try:  # the PyPI wheel (nvidia-cuda-nvcc) puts a complete nvcc under site-packages/nvidia/
        import nvidia

        for base in map(Path, nvidia.__path__):
            for cand in sorted(base.glob("*/bin/nvcc")):
                return str(cand)
    except ImportError:
        pass
    return None


@functools.cache
def nvrtc_available() -> bool:
    try:
        from cuda.bindings import nvrtc

        err, _, _ = nvrtc.nvrtcVersion()
        return int(err) == 0
    except Exception:  # no cuda-python, or no libnvrtc to load
        return False


def toolchain() -> str:
    """'nvcc', 'nvrtc' or '' (none usable)."""
    if find_nvcc():
        return "nvcc"
    return "nvrtc" if nvrtc_available() else ""


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise BackendError(f"unknown CUDA architecture {arch!r}; known: {', '.join(ARCHS)}")
    return arch


def compile_cuda(source: str, arch: str, name: str = "kernel") -> tuple[str, bytes]:
    """(PTX text, cubin bytes) of CUDA C++ source for `arch`."""
    check_arch(arch)
    how = toolchain()
    if how == "nvcc":
        return _nvcc(source, arch, name)
    if how == "nvrtc":
        return _nvrtc(source, arch, name)
    raise BackendError("no CUDA compiler found: install nvcc (pip install nvidia-cuda-nvcc) or NVRTC "
                       "(pip install 'cuda-python' nvidia-cuda-nvrtc)")


def _nvcc(source: str, arch: str, name: str) -> tuple[str, bytes]:
    """nvcc compiles to PTX once; ptxas (beside nvcc) assembles the cubin from that PTX, so the
    cubin is exactly the PTX the tests inspect and the C++ front end runs once."""
    nvcc = find_nvcc()
    ptxas = str(Path(nvcc).with_name("ptxas"))
    with tempfile.TemporaryDirectory(prefix="tilelang-nvcc-") as d:
        src, ptx, cubin = (Path(d) / f"{name}.{ext}" for ext in ("cu", "ptx", "cubin"))
        src.write_text(source)
        for cmd in ([nvcc, *_NVCC_FLAGS, f"-arch=compute_{arch[3:]}", "--ptx", str(src), "-o", str(ptx)],
                    [ptxas, f"-arch={arch}", "-O3", str(ptx), "-o", str(cubin)]):
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                raise BackendError(f"{Path(cmd[0]).name} failed for {arch} (a tilelang bug: generated code "
                                   f"should compile):\n{res.stderr.strip()[:4000]}")
        return ptx.read_text(), cubin.read_bytes()


def _nvrtc(source: str, arch: str, name: str) -> tuple[str, bytes]:
    from cuda.bindings import nvrtc

    def ok(result):
        err, *rest = result
        if int(err) != 0:
            raise BackendError(f"NVRTC: {nvrtc.nvrtcGetErrorString(err)[1].decode()}")
        return rest[0] if len(rest) == 1 else rest

    prog = ok(nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], []))
    opts = [f"--gpu-architecture={arch}".encode(), b"--std=c++17", b"-default-device"]
    err, = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    if int(err) != 0:
        size = ok(nvrtc.nvrtcGetProgramLogSize(prog))
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        raise BackendError(f"NVRTC failed for {arch} (a tilelang bug):\n{log.decode(errors='replace')[:4000]}")
    ptx = b" " * ok(nvrtc.nvrtcGetPTXSize(prog))
    ok(nvrtc.nvrtcGetPTX(prog, ptx))
    cubin = b" " * ok(nvrtc.nvrtcGetCUBINSize(prog))
    ok(nvrtc.nvrtcGetCUBIN(prog, cubin))
    return ptx.decode().rstrip("\0"), bytes(cubin)


@functools.cache
def toolchain_version() -> str:
    nvcc = find_nvcc()
    if nvcc:
        res = subprocess.run([nvcc, "--version"], capture_output=True, text=True)
        return res.stdout.strip().splitlines()[-1] if res.returncode == 0 else "nvcc?"
    if nvrtc_available():
        from cuda.bindings import nvrtc

        _, major, minor = nvrtc.nvrtcVersion()
        return f"nvrtc {major}.{minor}"
    return "none"
