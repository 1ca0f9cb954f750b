"""What the hardware offers, and the defaults that fit it when the tuning database has no entry.

cpu: the vector ISA comes from LLVM's view of the host (llvmlite `get_host_cpu_features()`), never
from a guess: AVX-512 gives 32 registers of 16 f32 lanes, AVX2 16 registers of 8 lanes. The GEMM
microkernel (MR rows x NV vectors of accumulators) is sized so MR*NV accumulators + NV loaded
vectors of b + one broadcast fit the register file. `TILELANG_CPU_ISA=avx2` makes the cpu backend
compile for an AVX2-only CPU (haswell) on an AVX-512 host, to measure that variant here.

GPU (Triton): per compute capability, tiles, warps and stages that fit that generation's shared
memory, e.g. sm_90: 128x256x64 tiles, 8 warps, 3 stages.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class VectorISA:
    name: str          # "avx512", "avx2", "sse" (the generic fallback)
    lanes_f32: int     # f32 lanes per vector register
    registers: int     # architectural vector registers
    cpu: str           # LLVM cpu name to compile for
    features: str      # LLVM feature string ("" = the host's)


def _host_features() -> dict[str, bool]:
    import llvmlite.binding as llvm

    return dict(llvm.get_host_cpu_features().items())


@functools.cache
def host_cpu_name() -> str:
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_name()


def isa_of(features: dict[str, bool], cpu: str = "", feature_string: str = "") -> VectorISA:
    """The vector ISA a feature set gives (AVX-512 needs avx512f; AVX2 needs avx2 and fma)."""
    if features.get("avx512f"):
        return VectorISA("avx512", 16, 32, cpu, feature_string)
    if features.get("avx2") and features.get("fma"):
        return VectorISA("avx2", 8, 16, cpu, feature_string)
    return VectorISA("sse", 4, 16, cpu, feature_string)


def host_isa() -> VectorISA:
    """The ISA the cpu backend compiles for: the host's, unless TILELANG_CPU_ISA=avx2 asks for an
    AVX2-only CPU (which an AVX-512 host runs too)."""
    want = os.environ.get("TILELANG_CPU_ISA", "").strip().lower()
    return _isa(want)


@functools.cache
def _isa(want: str) -> VectorISA:
    import llvmlite.binding as llvm

    feats = _host_features()
    host = isa_of(feats, host_cpu_name(), llvm.get_host_cpu_features().flatten())
    if want in ("", "host", "native") or want == host.name:
        return host
    if want == "avx2":
        if not (feats.get("avx2") and feats.get("fma")):
            from tilelang.errors import TileLangError
            raise TileLangError(f"TILELANG_CPU_ISA=avx2, but this CPU ({host_cpu_name()}) has no AVX2+FMA")
        # haswell: AVX2 + FMA, no AVX-512; the explicit minus-features keep LLVM from using any.
        no512 = ",".join(f"-{k}" for k in sorted(feats) if k.startswith("avx512") or k.startswith("avx10"))
        return VectorISA("avx2", 8, 16, "haswell", "+avx2,+fma,+avx,+f16c" + ("," + no512 if no512 else ""))
    from tilelang.errors import TileLangError
    raise TileLangError(f"TILELANG_CPU_ISA={want!r}: use 'avx2' or 'host'")


def cpu_isa() -> str:
    return host_isa().name


def microkernel_shape(bm: int, bn: int, isa: VectorISA | None = None) -> tuple[int, int]:
    """(MR rows, NV vectors) of the GEMM register block for a BM x BN tile on `isa`.

    Accumulators MR*NV, plus NV vectors of b and one broadcast of a, must fit the register file;
    among the blocks that do, prefer the most FMAs per load (MR*NV / (MR + NV)) whose NV divides
    BN's vector count."""
    isa = isa or host_isa()
    nvec = max(1, bn // isa.lanes_f32)
    best = None
    for nv in range(1, 5):
        for mr in range(1, 15):
            if mr * nv + nv + 1 > isa.registers:
                continue
            score = (nvec % nv == 0, mr * nv / (mr + nv), nv)
            if best is None or score > best[0]:
                best = (score, mr, nv)
    _, mr, nv = best
    return min(mr, bm), min(nv, nvec)


def default_config_values(target: str, device_arch: str | None = None) -> dict:
    """Tile sizes and launch settings that fit a target when the database has no entry:
    {"parallel": tile of grid loops, "sequential": tile of inner loops, "num_warps", "num_stages"}."""
    if target == "cpu":
        # GEMM-like kernels: 128 x 128 tiles with a 256-long k tile beat 64 x 64 x 128 by 1.3-1.5x
        # at n = 1024 and 2048 on both ISAs (benchmarks/README_autotune.md); the register block
        # inside the tile is chosen per ISA by microkernel_shape().
        return {"parallel": 128, "parallel_n": 128, "sequential": 256, "num_warps": 4, "num_stages": 2}
    arch = device_arch or ""
    if arch.startswith("sm_9") or arch.startswith("sm_10"):
        return {"parallel": 128, "parallel_n": 256, "sequential": 64, "num_warps": 8, "num_stages": 3}
    if arch.startswith("sm_8"):
        return {"parallel": 128, "parallel_n": 128, "sequential": 32, "num_warps": 4, "num_stages": 3}
    return {"parallel": 64, "parallel_n": 64, "sequential": 32, "num_warps": 4, "num_stages": 2}


# Shared memory per block (bytes) a config may use, by architecture, for pruning.
SHARED_MEMORY = {"sm_80": 163 * 1024, "sm_86": 99 * 1024, "sm_89": 99 * 1024, "sm_90": 227 * 1024,
                 "gfx942": 64 * 1024}
