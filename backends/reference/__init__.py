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


class ReferenceBackend(Backend):
    name = "reference"
    devices = ("cpu",)
    priority = 0

    def compile(self, kernel: ir.Kernel, key: str):
        def launch(args: dict, sizes: dict, grid: int):
            import torch

            arrays, writeback = {}, []
            for p in kernel.params:
                a = args[p.name]
                if isinstance(a, torch.Tensor):
                    arrays[p.name] = to_numpy(a)
                    if a.dtype == torch.bfloat16:
                        writeback.append(p.name)
                else:
                    arrays[p.name] = a
            run(kernel, arrays, sizes)
            for name in writeback:
                args[name].copy_(torch.from_numpy(np.ascontiguousarray(arrays[name])))

        return launch


register(ReferenceBackend())
