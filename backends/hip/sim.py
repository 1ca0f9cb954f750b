"""The HIP backend's explicit-memory program (wave64 threads, MFMA fragment maps) run by the
memory-level interpreter on CPU tensors: the correctness check of what the HIP renderer consumes,
on a machine without an AMD GPU. Not a registered backend (far too slow); tests register it."""

from __future__ import annotations

from tilelang.backends.cuda.sim import MemorySimBackend


class HipSimBackend(MemorySimBackend):
    name = "hip-sim"

    def compile_with(self, kernel, key, config):
        from . import memory_program

        return self.launcher(memory_program(kernel, config))

    def compile(self, kernel, key):
        from tilelang.config import Config

        return self.compile_with(kernel, key, Config())


def run_hip_simulated(kernel, *args, config=None):
    """Call a @tl.tile kernel on CPU tensors through the HIP backend's explicit-memory program."""
    from tilelang.config import Config
    from tilelang.runtime.launch import bind_arguments, bind_sizes, grid_size

    be = HipSimBackend()
    bound, signature, _ = bind_arguments(kernel, args)
    config = config or Config()
    final = kernel.final_ir(signature, config, be, kernel.specialized_sizes(signature, bound))
    launch = be.compile_with(final, "", config)
    sizes = bind_sizes(kernel, final, bound)
    grid = grid_size(final, sizes)
    if grid:
        launch(bound, sizes, grid)
    return launch.memkernel
