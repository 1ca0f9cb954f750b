"""Driving the HIP compilers (clang with the AMDGPU target, ROCm device libraries and HIP headers):
HIP C++ -> an AMDGPU code object for one gfx architecture, its assembly, and what the code object's
metadata says about scratch (private segment) use and register spills. No AMD GPU is needed.

Which compiler builds which architecture is asked of the compilers themselves (one tiny compile
per architecture, cached): Debian 12's `hipcc` (HIP 5.2, clang 15) knows gfx90a and gfx940 but not
gfx941 / gfx942; Debian 12's `clang++-19` (package clang-19, with lld-19) knows them all and
compiles HIP against the same Debian HIP headers and device libraries. An architecture no
installed compiler knows is refused with the list of those that are supported.

ROCm 5.2's device libraries predate gfx941 / gfx942, so for those clang is pointed at a directory of
links to them in which the gfx941 / gfx942 ISA-version library is the gfx940 one (the three share
one instruction set; the library only tells ocml / ockl which instructions exist).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tilelang.errors import BackendError

# The architectures tilelang targets (CDNA2 and CDNA3, both with MFMA), newest last.
ARCHS = ("gfx90a", "gfx940", "gfx941", "gfx942")
_FLAGS = ["-std=c++17", "-O3", "--cuda-device-only", "--no-gpu-bundle-output", "-Wno-unused-variable",
          "-Wno-unused-parameter"]
DEVICE_LIBS = ("/usr/lib/x86_64-linux-gnu/amdgcn/bitcode", "/opt/rocm/amdgcn/bitcode")
_CLANG_VERSIONS = range(22, 15, -1)  # clang++-N that may know more architectures than hipcc's clang


@dataclass(frozen=True)
class Compiler:
    path: str
    kind: str  # "hipcc" or "clang" (a plain clang++ driving HIP)

    def command(self, arch: str, extra: list[str], libs: str | None) -> list[str]:
        cmd = [self.path, f"--offload-arch={arch}", *extra]
        if self.kind == "clang" and libs:
            cmd.append(f"--rocm-device-lib-path={libs}")
        return cmd


@functools.cache
def compilers() -> tuple[Compiler, ...]:
    """Installed HIP-capable compilers, the configured / packaged hipcc first."""
    out = []
    hipcc = os.environ.get("TILELANG_HIPCC") or shutil.which("hipcc")
    for root in (os.environ.get("ROCM_PATH"), "/opt/rocm"):
        if not hipcc and root and (Path(root) / "bin" / "hipcc").is_file():
            hipcc = str(Path(root) / "bin" / "hipcc")
    if hipcc:
        out.append(Compiler(hipcc, "hipcc"))
    for v in _CLANG_VERSIONS:
        path = shutil.which(f"clang++-{v}")
        if path:
            out.append(Compiler(path, "clang"))
    return tuple(out)


def find_hipcc() -> str | None:
    return next((c.path for c in compilers() if c.kind == "hipcc"), None)


@functools.cache
def llvm_tool(name: str) -> str | None:
    """The newest LLVM tool of that name (llvm-objdump, llvm-readelf): newer ones know more gfx."""
    for cand in (*(f"{name}-{v}" for v in range(22, 14, -1)), name):
        path = shutil.which(cand)
        if path:
            return path
    return None


def _env() -> dict:
    return dict(os.environ, HIP_PLATFORM="amd")


def _device_libs() -> str | None:
    return next((d for d in DEVICE_LIBS if Path(d, "ocml.bc").is_file()), None)


def _device_libs_for(arch: str, into: Path) -> str | None:
    """A device-library directory clang accepts for `arch` (see the module doc)."""
    libs = _device_libs()
    if libs is None or Path(libs, f"oclc_isa_version_{arch[3:]}.bc").is_file():
        return libs
    into.mkdir(exist_ok=True)
    for f in Path(libs).glob("*.bc"):
        (into / f.name).symlink_to(f)
    (into / f"oclc_isa_version_{arch[3:]}.bc").symlink_to(Path(libs, "oclc_isa_version_940.bc"))
    return str(into)


@functools.cache
def compiler_for() -> dict[str, Compiler]:
    """For each of ARCHS, the first installed compiler that builds it (asked of each)."""
    found: dict[str, Compiler] = {}
    with tempfile.TemporaryDirectory(prefix="tilelang-hipcc-") as d:
        src = Path(d) / "probe.hip"
        src.write_text("__attribute__((global)) void probe(int* p) { *p = 1; }\n")
        for comp in compilers():
            for arch in ARCHS:
                if arch in found:
                    continue
                cmd = comp.command(arch, ["--cuda-device-only", "-nogpulib", "-c", "-x", "hip", str(src), "-o",
                                          str(Path(d) / f"{arch}.o")], None)
                if subprocess.run(cmd, capture_output=True, text=True, env=_env()).returncode == 0:
                    found[arch] = comp
    return found


def supported_archs() -> tuple[str, ...]:
    """The ARCHS some installed compiler builds, in ARCHS order."""
    have = compiler_for()
    return tuple(a for a in ARCHS if a in have)


def newest_arch() -> str | None:
    archs = supported_archs()
    return archs[-1] if archs else None


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise BackendError(f"unknown HIP architecture {arch!r}; tilelang targets {', '.join(ARCHS)}")
    have = supported_archs()
    if not have:
        raise BackendError("no HIP compiler: install Debian's hipcc (apt-get install hipcc; clang-19 and lld-19 add "
                           "gfx941 / gfx942), or set TILELANG_HIPCC to a hipcc")
    if arch not in have:
        raise BackendError(f"no installed HIP compiler ({toolchain_version()}) supports {arch}; they support "
                           f"{', '.join(have)} (use hip:{have[-1]}, the newest; for {arch} install clang-19 and "
                           "lld-19, or ROCm 5.7+)")
    return arch


def compile_hip(source: str, arch: str, name: str = "kernel") -> tuple[bytes, str]:
    """(code object bytes, compiler assembly text) of HIP source for `arch`. The code object is
    an ELF shared object (what hipModuleLoadData takes); the assembly is clang's own `-S` output
    for the same source and flags, which carries the kernel descriptors and resource comments."""
    check_arch(arch)
    comp = compiler_for()[arch]
    with tempfile.TemporaryDirectory(prefix="tilelang-hipcc-") as d:
        src, co, asm = (Path(d) / f"{name}.{ext}" for ext in ("hip", "co", "s"))
        src.write_text(source)
        libs = _device_libs_for(arch, Path(d) / "device-libs") if comp.kind == "clang" else None
        base = comp.command(arch, [*_FLAGS, "-x", "hip", str(src)], libs)
        for cmd in (base + ["-c", "-o", str(co)], base + ["-S", "-o", str(asm)]):
            res = subprocess.run(cmd, capture_output=True, text=True, env=_env())
            if res.returncode != 0:
                raise BackendError(f"{Path(comp.path).name} failed for {arch} (a tilelang bug: generated code "
                                   f"should compile):\n{res.stderr.strip()[:4000]}")
        return co.read_bytes(), asm.read_text()


def _run_tool(name: str, args: list[str], code_object: bytes) -> str:
    tool = llvm_tool(name)
    if tool is None:
        raise BackendError(f"{name} is not installed (it comes with Debian's hipcc: apt-get install hipcc)")
    with tempfile.TemporaryDirectory(prefix="tilelang-llvm-") as d:
        path = Path(d) / "kernel.co"
        path.write_bytes(code_object)
        res = subprocess.run([tool, *args, str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        raise BackendError(f"{name} failed: {res.stderr.strip()[:2000]}")
    return res.stdout


def disassemble(code_object: bytes, arch: str) -> str:
    """The code object's disassembly by llvm-objdump (the newest installed)."""
    return _run_tool("llvm-objdump", ["-d", f"--mcpu={arch}"], code_object)


def kernel_resources(code_object: bytes) -> dict[str, dict]:
    """Per kernel, what the code object's AMDHSA metadata note says: private segment (scratch)
    bytes, VGPR / SGPR / AGPR counts and spill counts, LDS bytes, wavefront size."""
    text = _run_tool("llvm-readelf", ["--notes"], code_object)
    out: dict[str, dict] = {}
    cur = None
    keys = {".private_segment_fixed_size": "scratch_bytes", ".vgpr_count": "vgprs", ".sgpr_count": "sgprs",
            ".vgpr_spill_count": "vgpr_spills", ".sgpr_spill_count": "sgpr_spills",
            ".group_segment_fixed_size": "lds_bytes", ".wavefront_size": "wavefront_size",
            ".agpr_count": "agprs"}
    for line in text.splitlines():
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
def _version(comp: Compiler) -> str:
    res = subprocess.run([comp.path, "--version"], capture_output=True, text=True, env=_env())
    lines = [ln.strip() for ln in res.stdout.splitlines() if "version" in ln.lower()]
    return "; ".join(lines[:2]) or Path(comp.path).name


def toolchain_version(arch: str | None = None) -> str:
    """The compiler that builds `arch` (every installed one without it), for cache keys and manifests."""
    if arch is not None and arch in compiler_for():
        return _version(compiler_for()[arch])
    return " + ".join(_version(c) for c in compilers()) or "none"


def available() -> bool:
    return bool(supported_archs())


__all__ = ["ARCHS", "available", "check_arch", "compile_hip", "compilers", "disassemble", "kernel_resources",
           "newest_arch", "supported_archs", "toolchain_version"]
