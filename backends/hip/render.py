"""HIP C++ from the explicit-memory level: the C-family base with HIP's spellings (wave64, LDS
through dynamic `extern __shared__`, `__launch_bounds__` of the block size), plus MFMA matrix
products for dot statements whose thread map is an MFMA fragment (tilelang/memir/fragment.py).

What differs from CUDA is small: HIP has __half (hip_fp16.h) but ROCm 5.2's headers have no
__nv_bfloat16 equivalent with the same conversions, so bf16 storage is a 16-bit word with the
round-to-nearest-even conversion written out (as the reference rounds); there is no cp.async, so
a pipelined ring's "async" copy is an ordinary load into its LDS stage (landing early is one of
the interleavings the explicit-memory interpreter already proves safe) and commit/wait are empty.
"""

from __future__ import annotations

from tilelang.backends.cfamily import CFamilyRenderer, Rendered
from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.memir import fragment as F
from tilelang.memir import nodes as M

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
    wave = F.WAVE

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

    # ---- fragment maps: which elements this thread owns --------------------------------------------

    def register_slots(self, b: M.Buffer) -> int:
        maps = {s.map for s in M.walk(self.mk.body) if isinstance(s, M.Compute) and s.out == b.name}
        frag = [m for m in maps if F.is_fragment(m)]
        return F.fragment(frag[0], b.shape, self.T).slots if frag else super().register_slots(b)

    def distributed_map(self, shape, body, map_: str):
        """Like `distributed`, over the elements an MFMA fragment map gives this thread."""
        if not F.is_fragment(map_):
            return self.distributed(shape, body)
        frag = F.fragment(map_, shape, self.T)
        self.emit(self.pragma_unroll)
        self.emit(f"for (int j = 0; j < {frag.slots}; ++j) {{")
        self.indent += 1
        self.emit(f"const int lane = tid % {self.wave}, blk = (j / {frag.block_items}) * {frag.waves} + "
                  f"tid / {self.wave}, item = j % {frag.block_items};")
        guarded = frag.slots * frag.waves != frag.blocks * frag.block_items
        if guarded:
            self.emit(f"if (blk < {frag.blocks}) {{")
            self.indent += 1
        r, c = frag.element_exprs("lane", "blk", "item")
        self.emit(f"const int i0 = {r};")
        self.emit(f"const int i1 = {c};")
        body(["i0", "i1"])
        if guarded:
            self.indent -= 1
            self.emit("}")
        self.indent -= 1
        self.emit("}")

    def stmt(self, s):
        if isinstance(s, M.Compute) and F.is_fragment(s.map):
            out = self.bufs[s.out]
            if isinstance(s.value, ir.Op) and s.value.name == "dot":
                self.mfma_dot(s, out)
                return
            self.line_directive(s.loc)

            def body(I):
                self.emit(f"{self.target(out, I)} = {self.value_expr(s.value, out, I)};")
            self.distributed_map(out.shape, body, s.map)
            return
        if isinstance(s, M.Put) and F.is_fragment(s.map):
            self.line_directive(s.loc)
            self.distributed_map(self._store_shape(s.store), lambda I: self.put_lines(s.store, I), s.map)
            return
        super().stmt(s)

    def mfma_dot(self, s: M.Compute, out: M.Buffer):
        """out = a @ b by MFMA: per wave, per owned 32x32 (or 16x16) block of out, the K loop of
        matrix-core instructions over operands read from LDS in the instruction's lane layout."""
        a, b = s.value.args
        frag = F.fragment(s.map, out.shape, self.T)
        K = self.bufs[a.name].shape[1]
        dt = self.dtype_of(a)
        inst = frag.instruction(dt)
        if K % inst.k:
            raise BackendError(f"MFMA {inst.name} needs K % {inst.k} == 0, got {K}", s.loc)
        self.line_directive(s.loc)
        self.emit("{")
        self.indent += 1
        self.emit(f"const int lane = tid % {self.wave};")
        self.emit(self.pragma_unroll)
        self.emit(f"for (int g = 0; g < {frag.slots // frag.block_items}; ++g) {{")
        self.indent += 1
        self.emit(f"const int blk = g * {frag.waves} + tid / {self.wave};")
        if frag.slots // frag.block_items * frag.waves != frag.blocks:
            self.emit(f"if (blk < {frag.blocks}) {{")
            self.indent += 1
        self.emit(f"const int br = (blk / {frag.blocks_n}) * {frag.n}, bc = (blk % {frag.blocks_n}) * {frag.n};")
        self.emit(f"{inst.acc_type} acc = {{}};")
        self.emit(self.pragma_unroll)
        self.emit(f"for (int k0 = 0; k0 < {K}; k0 += {inst.k}) {{")
        self.indent += 1
        self.emit(f"{inst.operand_type} fa, fb;")
        row, kk = inst.a_exprs("lane")
        kb, col = inst.b_exprs("lane")
        for i in range(inst.per_lane):
            av = self.read(a, [f"(br + {row})", f"(k0 + {kk} + {i})"])
            bv = self.read(b, [f"(k0 + {kb} + {i})", f"(bc + {col})"])
            self.emit(f"fa[{i}] = {inst.pack(av)}; fb[{i}] = {inst.pack(bv)};")
        self.emit(f"acc = {inst.builtin}(fa, fb, acc, 0, 0, 0);")
        self.indent -= 1
        self.emit("}")
        self.emit(self.pragma_unroll)
        self.emit(f"for (int item = 0; item < {frag.block_items}; ++item) "
                  f"r_{out.name}[g * {frag.block_items} + item] = acc[item];")
        if frag.slots // frag.block_items * frag.waves != frag.blocks:
            self.indent -= 1
            self.emit("}")
        self.indent -= 1
        self.emit("}")
        self.indent -= 1
        self.emit("}")


def render_hip(mk: M.MemKernel) -> Rendered:
    return HipRenderer(mk).render()
