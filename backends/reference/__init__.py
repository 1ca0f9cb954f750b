"""The reference backend: runs kernels through the numpy interpreter (the semantic oracle)."""

from __future__ import annotations

import numpy as np

from tilelang.backend import Backend, register
from tilelang.ir import nodes as ir

from .interp import run


def to_numpy(t):
    """A numpy view of a CPU tensor (a float32 copy for bf16, which numpy lacks)."""
    import torch

    if t.dtype == torch.bfloat16:
        return t.detach().float().numpy()
    return t.detach().numpy()


def run_on_numpy(params, args: dict, runner) -> None:
    """Call `runner(arrays)` on the arguments as numpy arrays (scalars as they are), then copy bf16
    outputs, which numpy holds as float32 copies, back into their tensors."""
    import torch

    arrays, writeback = {}, []
    for p in params:
        a = args[p.name]
        if isinstance(a, torch.Tensor):
            arrays[p.name] = to_numpy(a)
            if a.dtype == torch.bfloat16:
                writeback.append(p.name)
        else:
            arrays[p.name] = a
    runner(arrays)
    for name in writeback:
        args[name].copy_(torch.from_numpy(np.ascontiguousarray(arrays[name])))


class ReferenceBackend(Backend):
    name = "reference"
    devices = ("cpu",)
    priority = 0

    def compile(self, kernel: ir.Kernel, key: str):
        def launch(args: dict, sizes: dict, grid: int):
            run_on_numpy(kernel.params, args, lambda arrays: run(kernel, arrays, sizes))

        return launch


register(ReferenceBackend())
