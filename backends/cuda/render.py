"""CUDA C++ from the explicit-memory level: the C-family base with CUDA's spellings."""

from __future__ import annotations

from tilelang.backends.cfamily import CFamilyRenderer, Rendered
from tilelang.memir import nodes as M


class CudaRenderer(CFamilyRenderer):
    headers = ("#include <cuda_fp16.h>", "#include <cuda_bf16.h>")


def render_cuda(mk: M.MemKernel) -> Rendered:
    return CudaRenderer(mk).render()
