"""The CUDA backend: tile IR -> explicit-memory level (passes/lower_memory.py) -> CUDA C++
(render.py, on the C-family base backends/cfamily.py) -> PTX and cubin (toolchain.py: nvcc or
NVRTC) -> launched through the CUDA driver API on torch's current stream (launch.py).

Ahead of time (`tilelang compile --target cuda:sm_80` / `cuda:sm_90a`) it writes the CUDA source,
the PTX and the cubin side by side; that part runs on any machine with nvcc (or NVRTC).
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

from .render import render_cuda
from .toolchain import ARCHS, compile_cuda, toolchain, toolchain_version


def memory_program(kernel: ir.Kernel, config, observe=None):
    """The explicit-memory program the CUDA backend renders: lowering, then layout swizzling.
    `observe(step, memkernel)` sees each step's result."""
    threads = 32 * (config.num_warps if config is not None else 4)
    mk = lower_to_memory(kernel, threads=threads)
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
    return mk, render_cuda(mk)


class CudaBackend(Backend):
    name = "cuda"
    devices = ("cuda",)
    default_on = ()  # never picked by default until it has run on a GPU (see docs/cuda.md)
    priority = 5
    default_parallel_tile = 64
    default_sequential_tile = 32
    aot_targets = ("cuda",)

    def available(self) -> tuple[bool, str]:
        try:
            import torch
        except ImportError:
            return False, "torch is not installed"
        if not torch.cuda.is_available():
            return False, "no CUDA device"
        try:
            import cuda.bindings.driver  # noqa: F401
        except ImportError:
            return False, "cuda-python is not installed (pip install 'tilelang-dsl[cuda]')"
        if not toolchain():
            return False, "no CUDA compiler (nvcc or NVRTC)"
        return True, ""

    def compile(self, kernel: ir.Kernel, key: str):
        return self.compile_with(kernel, key, None)

    def compile_with(self, kernel: ir.Kernel, key: str, config):
        from .launch import device_arch, make_launcher

        arch = device_arch()
        _, rendered = _lower_and_render(kernel, config)
        # The generated source carries everything the binary depends on (the IR, the Config's
        # num_warps, layouts); add the architecture and the compilers.
        parts = (key, rendered.source, arch, cache.toolchain_versions(), toolchain_version())
        entry_key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
        hit = cache.lookup("cuda", entry_key, ("kernel.cubin",))
        if hit is None:
            ptx, cubin = compile_cuda(rendered.source, arch, kernel.name)
            hit = cache.store("cuda", entry_key, {"kernel.cu": rendered.source, "kernel.ptx": ptx,
                                                  "kernel.cubin": cubin})
        return make_launcher(rendered, (hit / "kernel.cubin").read_bytes())

    def lower_steps(self, kernel: ir.Kernel, config=None) -> list[tuple[str, str]]:
        from tilelang.memir.printer import print_memkernel

        steps = []
        memory_program(kernel, config, lambda name, mk: steps.append((name, print_memkernel(mk))))
        return steps

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        arch = target.split(":", 1)[1] if ":" in target else "sm_80"
        if arch not in ARCHS:
            raise BackendError(f"unknown CUDA target {target!r}; use one of "
                               f"{', '.join('cuda:' + a for a in ARCHS)}")
        out_dir = Path(out_dir)
        mk, rendered = _lower_and_render(kernel, config)
        ptx, cubin = compile_cuda(rendered.source, arch, kernel.name)
        files = {f"{kernel.name}.cu": rendered.source, f"{kernel.name}.ptx": ptx, f"{kernel.name}.cubin": cubin}
        for name, data in files.items():
            (out_dir / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return {"files": list(files), "binary_kind": "cubin", "arch": arch,
                "binary": {"file": f"{kernel.name}.cubin", "kind": "cubin", "symbol": rendered.entry},
                "launch_api": "cuda-driver", **aot_launch_fields(rendered),
                "toolchain": {"cuda": toolchain_version()},
                # The swizzle pass's proof: each 2-D shared buffer's layout is a bijection, and the
                # worst bank-conflict degree of every access pattern, every warp instruction enumerated.
                "shared_layouts": [p.to_dict() for p in layout_proofs(mk)]}


register(CudaBackend())
__all__ = ["CudaBackend", "render_cuda"]
