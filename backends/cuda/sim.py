"""Run a kernel through the explicit-memory level on CPU tensors: the tile IR is lowered and swizzled
as for the CUDA backend and the result executed by the memory-level interpreter (thread-level
semantics, race reports). Used by tests to check the lowering without a GPU; not a registered
backend (it is far too slow to be one)."""

from __future__ import annotations


from tilelang.backend import Backend
from tilelang.ir import nodes as ir
from tilelang.passes.lower_memory import lower_to_memory
from tilelang.passes.pipeline import pipeline_async
from tilelang.passes.swizzle import swizzle_shared
from tilelang.backends.reference import run_on_numpy
from tilelang.backends.reference.meminterp import run_memory


class MemorySimBackend(Backend):
    name = "cuda-sim"
    devices = ("cpu",)
    default_on = ()
    default_parallel_tile = 16
    default_sequential_tile = 16

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def compile_with(self, kernel: ir.Kernel, key: str, config):
        mk = lower_to_memory(kernel, threads=self.threads or 32 * config.num_warps)
        mk = swizzle_shared(pipeline_async(mk, config.num_stages))
        return self.launcher(mk)

    def compile(self, kernel: ir.Kernel, key: str):
        return self.launcher(swizzle_shared(lower_to_memory(kernel, threads=self.threads or 128)))

    @staticmethod
    def launcher(mk):
        def launch(args: dict, sizes: dict, grid: int):
            run_on_numpy(mk.params, args, lambda arrays: run_memory(mk, arrays, sizes))

        launch.memkernel = mk
        return launch


def run_simulated(kernel, *args, config=None, threads: int | None = None):
    """Call a @tl.tile kernel on CPU tensors through the explicit-memory interpreter."""
    from tilelang.config import Config
    from tilelang.runtime.launch import bind_arguments, bind_sizes, grid_size

    be = MemorySimBackend(threads)
    bound, signature, _ = bind_arguments(kernel, args)
    config = config or Config()
    final = kernel.final_ir(signature, config, be, kernel.specialized_sizes(signature, bound))
    launch = be.compile_with(final, "", config)
    sizes = bind_sizes(kernel, final, bound)
    grid = grid_size(final, sizes)
    if grid:
        launch(bound, sizes, grid)
    return launch.memkernel
