"""HIP C++ from the explicit-memory level: the C-family base with HIP's spellings (wave64, LDS
through dynamic `extern __shared__`, `__launch_bounds__` of the block size), plus MFMA matrix
products for dot statements whose thread map is an MFMA fragment map (tilelang/memir/fragments.py).

What differs from CUDA is small: HIP has __half (hip_fp16.h) but ROCm 5.2's headers have no
__nv_bfloat16 equivalent with the same conversions, so bf16 storage is a 16-bit word with the
round-to-nearest-even conversion written out (as the reference rounds); there is no cp.async, so
a pipelined ring's "async" copy is an ordinary load into its LDS stage (landing early is one of
the interleavings the explicit-memory interpreter already proves safe) and commit/wait are empty.
"""

from __future__ import annotations

from tilelang.backends.cfamily import CFamilyRenderer, Rendered
from tilelang.ir import nodes as ir
from tilelang.memir import nodes as M
from tilelang.memir.fragments import LAYOUTS, FragmentMap, mma_for_accumulator

# The clang builtin of each MFMA instruction registered in memir/fragments.py.
MFMA_BUILTINS = {"mfma_f32_32x32x8f16": "__builtin_amdgcn_mfma_f32_32x32x8f16",
                 "mfma_f32_32x32x8bf16_1k": "__builtin_amdgcn_mfma_f32_32x32x8bf16_1k",
                 "mfma_f32_16x16x16f16": "__builtin_amdgcn_mfma_f32_16x16x16f16",
                 "mfma_f32_16x16x16bf16_1k": "__builtin_amdgcn_mfma_f32_16x16x16bf16_1k"}

HIP_HELPERS = r"""
struct tl_bf16 { unsigned short bits; };
__device__ __forceinline__ float __bfloat162float(tl_bf16 h) { return __uint_as_float((unsigned)h.bits << 16); }
__device__ __forceinline__ tl_bf16 __float2bfloat16_rn(float x) {
  unsigned u = __float_as_uint(x); tl_bf16 h;
  if (x != x) { h.bits = (unsigned short)((u >> 16) | 0x40); return h; }
  u += 0x7FFFu + ((u >> 16) & 1u); h.bits = (unsigned short)(u >> 16); return h;
}
// No cp.async on AMD: the ring's copy is a plain load into its LDS stage.
__device__ __forceinline__ void tl_cp_async4(void* smem, const void* gmem, bool ok) {
  *(unsigned*)smem = ok ? *(const unsigned*)gmem : 0u;
}
// The 16-byte chunk copy likewise (n bytes, the rest zero; n == 16 only at 16-byte aligned addresses).
__device__ __forceinline__ void tl_cp_async16(void* smem, const void* gmem, int n) {
  if (n == 16) { *(uint4*)smem = *(const uint4*)gmem; return; }
  for (int i = 0; i < 16; ++i) ((unsigned char*)smem)[i] = i < n ? ((const unsigned char*)gmem)[i] : 0;
}
__device__ __forceinline__ void tl_cp_commit() {}
template <int N> __device__ __forceinline__ void tl_cp_wait() {}
"""

# MFMA operand and accumulator vectors (clang vector extensions; the g++ emulation has its own).
HIP_VECTOR_TYPES = r"""
typedef _Float16 tl_half4 __attribute__((ext_vector_type(4)));
typedef short tl_short4 __attribute__((ext_vector_type(4)));
typedef float tl_float16v __attribute__((ext_vector_type(16)));
typedef float tl_float4v __attribute__((ext_vector_type(4)));
__device__ __forceinline__ short tl_bf16_bits(float x) { return (short)__float2bfloat16_rn(x).bits; }
"""


class HipRenderer(CFamilyRenderer):
    headers = ("#include <hip/hip_runtime.h>", "#include <hip/hip_fp16.h>", HIP_HELPERS, HIP_VECTOR_TYPES)
    shared_decl = "extern __shared__ __attribute__((aligned(16))) unsigned char tl_smem[];"
    half_storage = {"f16": "__half", "bf16": "tl_bf16"}
    max_shared_bytes = 64 * 1024  # LDS per workgroup on gfx90a / gfx94x

    def prelude(self) -> str:
        # HIP has no signed 64-bit atomicMax / atomicMin: a compare-and-swap loop instead.
        text = super().prelude()
        for kind, cmp in (("max", "<"), ("min", ">")):
            old = f"{self.device_fn} void tl_atomic_{kind}(long long* p, long long v) {{ atomic{kind.title()}(p, v); }}"
            assert old in text
            text = text.replace(old, f"{self.device_fn} void tl_atomic_{kind}(long long* p, long long v) {{\n"
                                     "  unsigned long long* q = (unsigned long long*)p; unsigned long long old = *q;\n"
                                     f"  while ((long long)old {cmp} v) {{ unsigned long long prev = atomicCAS(q, old, "
                                     "(unsigned long long)v); if (prev == old) break; old = prev; }\n}")
        return text

    # ---- matrix cores -----------------------------------------------------------------------------------

    def stmt(self, s):
        if isinstance(s, M.Compute) and isinstance(s.map, FragmentMap) and isinstance(s.value, ir.Op) \
                and s.value.name == "dot":
            a = s.value.args[0]
            instr = mma_for_accumulator(s.map.layout, self.dtype_of(a))
            if instr is not None and instr.name in MFMA_BUILTINS:
                self.line_directive(s.loc)
                self.mfma_dot(s, self.bufs[s.out], instr)
                return
        super().stmt(s)

    def loops(self, nest: list[tuple[str, int]], line: str):
        """Fully unrolled nested counting loops around one statement."""
        for var, n in nest:
            self.emit(self.pragma_unroll)
            self.emit(f"for (int {var} = 0; {var} < {n}; ++{var})")
            self.indent += 1
        self.emit(line)
        self.indent -= len(nest)

    def mfma_dot(self, s: M.Compute, out: M.Buffer, instr):
        """out = a @ b on matrix cores: each wave owns a block of `out` (the fragment map's warp
        grid) covered by fm x fn MFMA tiles; per k-step it reads its A and B fragments from LDS in
        the instruction's operand layouts (memir/fragments.py row/col expressions, pasted) and
        issues fm * fn MFMAs; the accumulators land in the register slots the map gives them."""
        a, b = s.value.args
        fmap: FragmentMap = s.map
        la, lb, lc = LAYOUTS[instr.a], LAYOUTS[instr.b], LAYOUTS[instr.c]
        K = self.bufs[a.name].shape[1]
        wm, wn = fmap.warps
        fm, fn = fmap.grid(out.shape)
        br, bc = out.shape[0] // wm, out.shape[1] // wn
        half = self.dtype_of(a)
        vec, pack = ("tl_half4", "(_Float16)({})") if half == "f16" else ("tl_short4", "tl_bf16_bits({})")
        acc_t = f"tl_float{lc.regs}v"
        self.emit("{")
        self.indent += 1
        self.emit(f"const int lane = tid % {lc.lanes}, warp = tid / {lc.lanes};")
        self.emit(f"const int wr = (warp / {wn}) * {br}, wc = (warp % {wn}) * {bc};")
        self.emit(f"{acc_t} acc[{fm * fn}] = {{}};")
        self.emit(self.pragma_unroll)
        self.emit(f"for (int k0 = 0; k0 < {K}; k0 += {instr.k}) {{")
        self.indent += 1
        self.emit(f"{vec} fa[{fm}], fb[{fn}];")
        av = self.read(a, [f"(wr + fi * {instr.m} + ({la.row}))", f"(k0 + ({la.col}))"])
        bv = self.read(b, [f"(k0 + ({lb.row}))", f"(wc + fj * {instr.n} + ({lb.col}))"])
        self.loops([("fi", fm), ("reg", la.regs)], f"fa[fi][reg] = {pack.format(av)};")
        self.loops([("fj", fn), ("reg", lb.regs)], f"fb[fj][reg] = {pack.format(bv)};")
        self.loops([("f", fm * fn)],
                   f"acc[f] = {MFMA_BUILTINS[instr.name]}(fa[f / {fn}], fb[f % {fn}], acc[f], 0, 0, 0);")
        self.indent -= 1
        self.emit("}")
        self.loops([("f", fm * fn), ("reg", lc.regs)], f"r_{out.name}[f * {lc.regs} + reg] = acc[f][reg];")
        self.indent -= 1
        self.emit("}")


def render_hip(mk: M.MemKernel) -> Rendered:
    return HipRenderer(mk).render()
