"""CUDA C++ from the explicit-memory level: the C-family base with CUDA's spellings."""

from __future__ import annotations

from tilelang.backends.cfamily import CFamilyRenderer, Rendered
from tilelang.memir import nodes as M


ASYNC_COPY = r"""
// cp.async (sm_80): 4 bytes global -> shared, zero-filled when !ok (src-size 0 reads nothing).
__device__ __forceinline__ void tl_cp_async4(void* smem, const void* gmem, bool ok) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" :: "r"(s), "l"(gmem), "r"(ok ? 4 : 0) : "memory");
}
__device__ __forceinline__ void tl_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void tl_cp_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory"); }
"""


class CudaRenderer(CFamilyRenderer):
    headers = ("#include <cuda_fp16.h>", "#include <cuda_bf16.h>", ASYNC_COPY)


def render_cuda(mk: M.MemKernel) -> Rendered:
    return CudaRenderer(mk).render()
