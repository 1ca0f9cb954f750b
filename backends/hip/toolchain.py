"""Driving Debian's hipcc (clang with the AMDGPU target, ROCm device libraries): HIP C++ -> an
AMDGPU code object for one gfx architecture, its assembly, and what the code object's metadata
says about scratch (private segment) use and register spills. No AMD GPU is needed.

Which architectures the installed clang knows is asked of clang itself (one tiny compile per
architecture, cached), so `hip:gfx942` works wherever the compiler supports it and otherwise is
refused with the list of those it does support (Debian 12's clang 15 knows gfx90a and gfx940 but
not gfx941 / gfx942).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tilelang.errors import BackendError

# The architectures tilelang targets (CDNA2 and CDNA3, both with MFMA), newest last.
ARCHS = ("gfx90a", "gfx940", "gfx941", "gfx942")
_FLAGS = ["-std=c++17", "-O3", "--cuda-device-only", "--no-gpu-bundle-output", "-Wno-unused-variable", "-Wno-unused-parameter"]


@functools.cache
def find_hipcc() -> str | None:
    found = os.environ.get("TILELANG_HIPCC") or shutil.which("hipcc")
    if found:
        return found
    for root in (os.environ.get("ROCM_PATH"), "/opt/rocm"):
        if root and (Path(root) / "bin" / "hipcc").is_file():
            return str(Path(root) / "bin" / "hipcc")
    return None


@functools.cache
def llvm_tool(name: str) -> str | None:
    """An LLVM tool (llvm-objdump, llvm-readelf) of the clang hipcc drives, else any on PATH."""
    for cand in (f"{name}-15", name, *(f"{name}-{v}" for v in range(22, 14, -1))):
        path = shutil.which(cand)
        if path:
            return path
    return None


def _env() -> dict:
    return dict(os.environ, HIP_PLATFORM="amd")


@functools.cache
def supported_archs() -> tuple[str, ...]:
    """The ARCHS the installed compiler accepts (asked of it: a 1-line kernel per architecture)."""
    hipcc = find_hipcc()
    if hipcc is None:
        return ()
    ok = []
    with tempfile.TemporaryDirectory(prefix="tilelang-hipcc-") as d:
        src = Path(d) / "probe.hip"
        src.write_text("__attribute__((global)) void probe(int* p) { *p = 1; }\n")
        for arch in ARCHS:
            res = subprocess.run([hipcc, f"--offload-arch={arch}", "--cuda-device-only", "-nogpulib", "-c",
                                  "-x", "hip", str(src), "-o", str(Path(d) / f"{arch}.o")],
                                 capture_output=True, text=True, env=_env())
            if res.returncode == 0:
                ok.append(arch)
    return tuple(ok)


def newest_arch() -> str | None:
    archs = supported_archs()
    return archs[-1] if archs else None


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise BackendError(f"unknown HIP architecture {arch!r}; tilelang targets {', '.join(ARCHS)}")
    have = supported_archs()
    if not have:
        raise BackendError("no HIP compiler: install Debian's hipcc (apt-get install hipcc), or set "
                           "TILELANG_HIPCC to a hipcc")
    if arch not in have:
        raise BackendError(f"the installed HIP compiler ({toolchain_version()}) does not support {arch}; "
                           f"it supports {', '.join(have)} (use hip:{have[-1]}, the newest; {arch} needs "
                           "ROCm 5.7+ / LLVM 17+)")
    return arch


def compile_hip(source: str, arch: str, name: str = "kernel") -> tuple[bytes, str]:
    """(code object bytes, compiler assembly text) of HIP source for `arch`. The code object is
    an ELF shared object (what hipModuleLoadData takes); the assembly is clang's own `-S` output
    for the same source and flags, which carries the kernel descriptors and resource comments."""
    check_arch(arch)
    hipcc = find_hipcc()
    with tempfile.TemporaryDirectory(prefix="tilelang-hipcc-") as d:
        src, co, asm = (Path(d) / f"{name}.{ext}" for ext in ("hip", "co", "s"))
        src.write_text(source)
        base = [hipcc, f"--offload-arch={arch}", *_FLAGS, "-x", "hip", str(src)]
        for cmd in (base + ["-c", "-o", str(co)], base + ["-S", "-o", str(asm)]):
            res = subprocess.run(cmd, capture_output=True, text=True, env=_env())
            if res.returncode != 0:
                raise BackendError(f"hipcc failed for {arch} (a tilelang bug: generated code should compile):\n"
                                   f"{res.stderr.strip()[:4000]}")
        return co.read_bytes(), asm.read_text()


def disassemble(code_object: bytes, arch: str) -> str:
    """The code object's disassembly by llvm-objdump (the LLVM tools hipcc's clang comes with)."""
    objdump = llvm_tool("llvm-objdump")
    if objdump is None:
        raise BackendError("llvm-objdump is not installed (it comes with Debian's hipcc: apt-get install hipcc)")
    with tempfile.TemporaryDirectory(prefix="tilelang-objdump-") as d:
        path = Path(d) / "kernel.co"
        path.write_bytes(code_object)
        res = subprocess.run([objdump, "-d", f"--mcpu={arch}", str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            raise BackendError(f"llvm-objdump failed: {res.stderr.strip()[:2000]}")
        return res.stdout


def kernel_resources(code_object: bytes) -> dict[str, dict]:
    """Per kernel, what the code object's AMDHSA metadata note says: private segment (scratch)
    bytes, VGPR / SGPR counts and spill counts, LDS bytes, wavefront size."""
    readelf = llvm_tool("llvm-readelf")
    if readelf is None:
        raise BackendError("llvm-readelf is not installed (it comes with Debian's hipcc: apt-get install hipcc)")
    with tempfile.TemporaryDirectory(prefix="tilelang-readelf-") as d:
        path = Path(d) / "kernel.co"
        path.write_bytes(code_object)
        res = subprocess.run([readelf, "--notes", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        raise BackendError(f"llvm-readelf failed: {res.stderr.strip()[:2000]}")
    out: dict[str, dict] = {}
    cur = None
    keys = {".private_segment_fixed_size": "scratch_bytes", ".vgpr_count": "vgprs", ".sgpr_count": "sgprs",
            ".vgpr_spill_count": "vgpr_spills", ".sgpr_spill_count": "sgpr_spills",
            ".group_segment_fixed_size": "lds_bytes", ".wavefront_size": "wavefront_size",
            ".agpr_count": "agprs"}
    for line in res.stdout.splitlines():
        m = re.match(r"\s*-?\s*(\.[a-z_]+):\s*(\S+)", line)
        if not m:
            continue
        key, value = m.groups()
        if key == ".name":
            cur = out.setdefault(value, {})
        elif key in keys and cur is not None and value.lstrip("-").isdigit():
            cur[keys[key]] = int(value)
    return out


@functools.cache
def toolchain_version() -> str:
    hipcc = find_hipcc()
    if hipcc is None:
        return "none"
    res = subprocess.run([hipcc, "--version"], capture_output=True, text=True, env=_env())
    lines = [ln.strip() for ln in res.stdout.splitlines() if "version" in ln.lower()]
    return "; ".join(lines[:2]) or "hipcc?"


def available() -> bool:
    return bool(supported_archs())


__all__ = ["ARCHS", "available", "check_arch", "compile_hip", "disassemble", "kernel_resources", "newest_arch",
           "supported_archs", "toolchain_version"]
