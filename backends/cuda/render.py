"""CUDA C++ from the explicit-memory level: the C-family base with CUDA's spellings, plus tensor
cores: a fragment-mapped f16/bf16 `dot` becomes ldmatrix (x4; .trans for B) from shared memory and
mma.sync.aligned.m16n8k16, in inline PTX (sm_80 and later, so sm_80 and sm_90a alike)."""

from __future__ import annotations

from tilelang.backends.cfamily import CFamilyRenderer, Rendered
from tilelang.memir import nodes as M
from tilelang.memir.fragments import LAYOUTS


ASYNC_COPY = r"""
// cp.async (sm_80): 4 bytes global -> shared, zero-filled when !ok (src-size 0 reads nothing).
__device__ __forceinline__ void tl_cp_async4(void* smem, const void* gmem, bool ok) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" :: "r"(s), "l"(gmem), "r"(ok ? 4 : 0) : "memory");
}
// cp.async.cg (sm_80): 16 bytes global -> shared, the last 16 - n zero-filled (n = 0: reads nothing).
__device__ __forceinline__ void tl_cp_async16(void* smem, const void* gmem, int n) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(s), "l"(gmem), "r"(n) : "memory");
}
__device__ __forceinline__ void tl_cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void tl_cp_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory"); }
"""

TENSOR_CORES = r"""
// ldmatrix (sm_75+): lanes 8i..8i+7 give the 16-byte rows of 8x8 matrix i; lane t receives row
// t/4, halves 2(t%4) and 2(t%4)+1 of each (.trans: column t/4, rows 2(t%4) and 2(t%4)+1).
__device__ __forceinline__ void tl_ldmatrix_x4(unsigned* r, const void* p) {
  unsigned s = (unsigned)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s) : "memory");
}
__device__ __forceinline__ void tl_ldmatrix_x4_trans(unsigned* r, const void* p) {
  unsigned s = (unsigned)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s) : "memory");
}
__device__ __forceinline__ void tl_ldmatrix_x2_trans(unsigned* r, const void* p) {
  unsigned s = (unsigned)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1]) : "r"(s) : "memory");
}
// D = A B + D on one warp: A 16x16 (4 regs of 2 halves), B 16x8 (2 regs), D 16x8 f32 (4 regs).
__device__ __forceinline__ void tl_mma_m16n8k16_f16(float* d, const unsigned* a, const unsigned* b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
               "{%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void tl_mma_m16n8k16_bf16(float* d, const unsigned* a, const unsigned* b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
               "{%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
"""

# The registered instructions (memir/fragments.py) this renderer spells, and how.
MMA_FUNCTIONS = {"mma_m16n8k16_f16_f32": "tl_mma_m16n8k16_f16", "mma_m16n8k16_bf16_f32": "tl_mma_m16n8k16_bf16"}


class CudaRenderer(CFamilyRenderer):
    headers = ("#include <cuda_fp16.h>", "#include <cuda_bf16.h>", ASYNC_COPY, TENSOR_CORES)

    def tensor_core_dot(self, s: M.Compute, instr) -> bool:
        """ldmatrix + mma.sync for a fragment-mapped dot whose operands are 2-byte shared tiles with
        whole 16-byte rows (identity layout, or a swizzle that moves 8-element chunks)."""
        fn = MMA_FUNCTIONS.get(instr.name)
        a, b = (self.bufs[x.name] for x in s.value.args)
        out = self.bufs[s.out]
        for buf in (a, b):
            swz = buf.swizzle
            if buf.space != "shared" or buf.dtype not in self.half_storage or \
                    (swz is not None and (len(swz) < 3 or swz[2] % 8)):
                return False
        if fn is None or (instr.m, instr.n, instr.k) != (16, 8, 16):
            return False
        fmap, lay = s.map, LAYOUTS[instr.c]
        wm, wn = fmap.warps
        fm, fn_ = fmap.grid(out.shape)
        br, bc = out.shape[0] // wm, out.shape[1] // wn
        per = fmap.per_thread(out.shape)
        K = a.shape[1]
        e = self.emit
        e(f"{{  // tensor cores: {instr.doc}, {fm}x{fn_} fragments per warp")
        self.indent += 1
        e(f"const int lane = tid % {lay.lanes}, warp = tid / {lay.lanes};")
        e(f"const int wr = (warp / {wn}) * {br}, wc = (warp % {wn}) * {bc};")
        e(f"float tl_d[{per}];")
        e(self.pragma_unroll)
        e(f"for (int j = 0; j < {per}; ++j) tl_d[j] = 0.0f;")
        e(self.pragma_unroll)
        e(f"for (int kk = 0; kk < {K}; kk += 16) {{")
        self.indent += 1
        e(f"unsigned fa[{fm}][4], fb[{fn_}][2];")
        e(self.pragma_unroll)
        e(f"for (int fi = 0; fi < {fm}; ++fi) {{")
        e(f"  const int i0 = wr + fi * 16 + (lane & 15), i1 = kk + 8 * (lane >> 4);")
        e(f"  tl_ldmatrix_x4(fa[fi], &s_{a.name}[{self.shared_index(a, ['i0', 'i1'])}]);")
        e("}")
        e(self.pragma_unroll)
        e(f"for (int fj = 0; fj + 1 < {fn_}; fj += 2) {{")
        e(f"  const int i0 = kk + (lane & 15), i1 = wc + fj * 8 + 8 * (lane >> 4);")
        e("  unsigned t[4];")
        e(f"  tl_ldmatrix_x4_trans(t, &s_{b.name}[{self.shared_index(b, ['i0', 'i1'])}]);")
        e("  fb[fj][0] = t[0]; fb[fj][1] = t[1]; fb[fj + 1][0] = t[2]; fb[fj + 1][1] = t[3];")
        e("}")
        if fn_ % 2:
            e("{")
            e(f"  const int i0 = kk + (lane & 15), i1 = wc + {fn_ - 1} * 8;")
            e(f"  tl_ldmatrix_x2_trans(fb[{fn_ - 1}], &s_{b.name}[{self.shared_index(b, ['i0', 'i1'])}]);")
            e("}")
        e(self.pragma_unroll)
        e(f"for (int fi = 0; fi < {fm}; ++fi)")
        e(self.pragma_unroll)
        e(f"  for (int fj = 0; fj < {fn_}; ++fj) {fn}(&tl_d[(fi * {fn_} + fj) * {lay.regs}], fa[fi], fb[fj]);")
        self.indent -= 1
        e("}")

        def store(I):
            v = "tl_d[j]"
            if out.space == "shared" and out.dtype in self.half_store:
                v = self.half_store[out.dtype].format(v)
            e(f"{self.target(out, I)} = {v};")
        self.fragment_elements(out.shape, store, fmap)
        self.indent -= 1
        e("}")
        return True


def render_cuda(mk: M.MemKernel) -> Rendered:
    return CudaRenderer(mk).render()
