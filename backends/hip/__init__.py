"""The HIP backend: tile IR -> explicit-memory level (passes/lower_memory.py, wave64: 64 threads
per `num_warps`, MFMA fragment maps for f16/bf16 dots) -> LDS rings, LDS swizzling -> HIP C++
(render.py, on the C-family base) -> an AMDGPU code object by Debian's hipcc (toolchain.py).

Runs only on a ROCm device (`backend="hip"`, never a default); on any machine with hipcc it
compiles ahead of time (`tilelang compile --target hip:gfx90a`) to the source, the code object,
the compiler's assembly and the code object's disassembly side by side. Correctness is checked
without AMD hardware by the explicit-memory interpreter on the same lowered program and by the
rendered source compiled with g++ against an emulation of the HIP features it uses (emu.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tilelang.backend import Backend, register
from tilelang.backends.cfamily import aot_launch_fields
from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.memir.verifier import verify_memkernel
from tilelang.passes.lower_memory import lower_to_memory
from tilelang.passes.pipeline import pipeline_async
from tilelang.passes.swizzle import layout_proofs, swizzle_shared
from tilelang.runtime import cache

from . import toolchain
from .render import render_hip

WAVE = 64  # threads of a wavefront on CDNA


def memory_program(kernel: ir.Kernel, config, observe=None):
    """The explicit-memory program the HIP backend renders: lowering for wave64 with MFMA fragment
    maps (target "hip", memir/fragments.py), LDS rings, swizzled layouts. `observe(step,
    memkernel)` sees each step's result."""
    threads = WAVE * (config.num_warps if config is not None else 4)
    mk = lower_to_memory(kernel, threads=threads, target="hip")
    if observe:
        observe("lower_memory", mk)
    mk = pipeline_async(mk, config.num_stages if config is not None else 2)
    if observe:
        observe("pipeline", mk)
    mk = swizzle_shared(mk)
    verify_memkernel(mk)
    if observe:
        observe("swizzle", mk)
    return mk


def _lower_and_render(kernel: ir.Kernel, config):
    mk = memory_program(kernel, config)
    return mk, render_hip(mk)


def device_arch() -> str:
    import torch

    name = torch.cuda.get_device_properties(torch.cuda.current_device()).gcnArchName.split(":")[0]
    return toolchain.check_arch(name)


class HipBackend(Backend):
    name = "hip"
    devices = ("cuda",)  # torch calls a ROCm device "cuda" too
    default_on = ()  # never a default: no AMD GPU has run it yet (see docs/hip.md)
    priority = 4
    default_parallel_tile = 64
    default_sequential_tile = 32
    aot_targets = ("hip",)

    def available(self) -> tuple[bool, str]:
        try:
            import torch
        except ImportError:
            return False, "torch is not installed"
        if not getattr(torch.version, "hip", None) or not torch.cuda.is_available():
            return False, "no ROCm device (backend 'hip' runs on AMD GPUs under a ROCm build of torch)"
        if not toolchain.available():
            return False, "no HIP compiler (apt-get install hipcc)"
        return True, ""

    def compile(self, kernel: ir.Kernel, key: str):
        return self.compile_with(kernel, key, None)

    def compile_with(self, kernel: ir.Kernel, key: str, config):
        from .launch import make_launcher

        arch = device_arch()
        _, rendered = _lower_and_render(kernel, config)
        parts = (key, rendered.source, arch, cache.toolchain_versions(), toolchain.toolchain_version(arch))
        entry_key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
        hit = cache.lookup("hip", entry_key, ("kernel.co",))
        if hit is None:
            co, asm = toolchain.compile_hip(rendered.source, arch, kernel.name)
            hit = cache.store("hip", entry_key, {"kernel.hip": rendered.source, "kernel.co": co, "kernel.s": asm})
        return make_launcher(rendered, (hit / "kernel.co").read_bytes())

    def lower_steps(self, kernel: ir.Kernel, config=None) -> list[tuple[str, str]]:
        from tilelang.memir.printer import print_memkernel

        steps = []
        memory_program(kernel, config, lambda name, mk: steps.append((name, print_memkernel(mk))))
        return steps

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        arch = target.split(":", 1)[1] if ":" in target else (toolchain.newest_arch() or "gfx90a")
        if arch not in toolchain.ARCHS:
            raise BackendError(f"unknown HIP target {target!r}; use one of "
                               f"{', '.join('hip:' + a for a in toolchain.ARCHS)}")
        toolchain.check_arch(arch)
        out_dir = Path(out_dir)
        mk, rendered = _lower_and_render(kernel, config)
        co, asm = toolchain.compile_hip(rendered.source, arch, kernel.name)
        files = {f"{kernel.name}.hip": rendered.source, f"{kernel.name}.co": co, f"{kernel.name}.s": asm,
                 f"{kernel.name}.dis.s": toolchain.disassemble(co, arch)}
        for name, data in files.items():
            (out_dir / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        resources = toolchain.kernel_resources(co).get(rendered.entry, {})
        return {"files": list(files), "binary_kind": "hsaco", "arch": arch,
                "binary": {"file": f"{kernel.name}.co", "kind": "hsaco", "symbol": rendered.entry},
                "launch_api": "hip-runtime", **aot_launch_fields(rendered),
                "wavefront_size": WAVE, "resources": resources,
                "toolchain": {"hip": toolchain.toolchain_version(arch)},
                "shared_layouts": [p.to_dict() for p in layout_proofs(mk)]}


register(HipBackend())
__all__ = ["HipBackend", "memory_program", "render_hip"]
