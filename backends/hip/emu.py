"""Run the HIP backend's generated source on the CPU: the HIP renderer's output (every statement,
index, conversion, and the MFMA calls with their lane layouts) compiled by g++ against the CUDA
emulation (backends/cuda/emu.py: one OS thread per thread, real barriers) plus what HIP adds:
wave64 matrix-core instructions, emulated per wave.

The MFMA emulation is written from the instruction's documented matrix layout (which lane holds
A[i][k], B[k][j], D[i][j]), independently of the renderer's formulas (tilelang/memir/fragment.py
says which element each lane owns, the other direction): every lane of the wave deposits its
operands, the wave meets at a barrier, each lane computes the D elements the layout assigns to it,
and the wave meets again before the scratch is reused. A renderer whose lane formulas disagree
with the layout computes wrong products, which the tests compare against float64 torch.
"""

from __future__ import annotations

import ctypes

from tilelang.backend import Backend
from tilelang.backends.cuda.emu import HEADER, _driver, build
from tilelang.backends.cuda.launch import pack_arguments

from .render import HipRenderer

HIP_EMU = r"""
#include <memory>
typedef __nv_bfloat16 tl_bf16;
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
template <typename T, int N> struct tl_vec {
  T v[N];
  T& operator[](int i) { return v[i]; }
  const T& operator[](int i) const { return v[i]; }
};
typedef tl_vec<_Float16, 4> tl_half4;
typedef tl_vec<short, 4> tl_short4;
typedef tl_vec<float, 16> tl_float16v;
typedef tl_vec<float, 4> tl_float4v;
inline short tl_bf16_bits(float x) { return (short)__float2bfloat16_rn(x).bits; }
inline float tl_emu_value(_Float16 h) { return (float)h; }
inline float tl_emu_value(short b) { return __uint_as_float((unsigned)(unsigned short)b << 16); }
struct tl_wave { std::barrier<> bar{64}; float a[64][4], b[64][4]; };
static thread_local tl_wave* tl_emu_wave;
// v_mfma_f32_NxNxK (K = 4 * 64 / N) of one wave: A[i][k] is item k % 4 of lane i + N * (k / 4),
// B[k][j] item k % 4 of lane j + N * (k / 4); D[i][j], in row groups g = i / 4, is item
// i % 4 + 4 * (g / (64 / N)) of lane j + N * (g % (64 / N)).
template <int N, typename V, typename Acc> Acc tl_emu_mfma(V a, V b, Acc c) {
  const int lane = threadIdx.x % 64, K = 4 * 64 / N, per = 64 / N;
  tl_wave* w = tl_emu_wave;
  for (int i = 0; i < 4; ++i) { w->a[lane][i] = tl_emu_value(a[i]); w->b[lane][i] = tl_emu_value(b[i]); }
  w->bar.arrive_and_wait();
  Acc d = c;
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < N; ++j) {
      const int g = i / 4;
      if (j + N * (g % per) != lane) continue;
      float s = 0.0f;
      for (int k = 0; k < K; ++k) s += w->a[i + N * (k / 4)][k % 4] * w->b[j + N * (k / 4)][k % 4];
      d[i % 4 + 4 * (g / per)] += s;
    }
  w->bar.arrive_and_wait();
  return d;
}
#define __builtin_amdgcn_mfma_f32_32x32x8f16(a, b, c, x, y, z) tl_emu_mfma<32>(a, b, c)
#define __builtin_amdgcn_mfma_f32_32x32x8bf16_1k(a, b, c, x, y, z) tl_emu_mfma<32>(a, b, c)
#define __builtin_amdgcn_mfma_f32_16x16x16f16(a, b, c, x, y, z) tl_emu_mfma<16>(a, b, c)
#define __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a, b, c, x, y, z) tl_emu_mfma<16>(a, b, c)
"""


class HipEmuRenderer(HipRenderer):
    headers = ('#include "cuda_emu.h"',)
    kernel_prefix = "static void"
    launch_bounds = ""
    shared_decl = "unsigned char* const tl_smem = tl_emu_smem;"
    pragma_unroll = ""


def _hip_driver(rendered) -> str:
    waves = -(-rendered.threads // 64)
    return _driver(rendered, HipEmuRenderer,
                   block_setup=f"std::vector<std::unique_ptr<tl_wave>> waves; for (int w = 0; w < {waves}; ++w) "
                               "waves.emplace_back(new tl_wave());",
                   thread_setup="tl_emu_wave = waves[t / 64].get();")


def build_hip(mk):
    return build(mk, HipEmuRenderer, HEADER + HIP_EMU, _hip_driver, "hip-emu")


class HipEmuBackend(Backend):
    """The HIP backend's generated code, emulated on CPU tensors (tests register it by name)."""

    name = "hip-emu"
    devices = ("cpu",)
    default_on = ()
    default_parallel_tile = 64
    default_sequential_tile = 32

    def compile(self, kernel, key):
        return self.compile_with(kernel, key, None)

    def compile_with(self, kernel, key, config):
        from tilelang.config import Config

        from . import memory_program

        rendered, fn = build_hip(memory_program(kernel, config or Config()))

        def launch(args: dict, sizes: dict, grid: int):
            values, types = pack_arguments(rendered, args, sizes)
            boxes = [t(v) for v, t in zip(values, types)]
            argv = (ctypes.c_void_p * len(boxes))(*[ctypes.cast(ctypes.pointer(b), ctypes.c_void_p) for b in boxes])
            fn(grid, argv)

        launch.rendered = rendered
        return launch


def run_hip_emulated(kernel, *args, config=None):
    """Call a @tl.tile kernel on CPU tensors through the HIP backend's generated source, emulated."""
    from tilelang.config import Config
    from tilelang.runtime.launch import bind_arguments, bind_sizes, grid_size

    be = HipEmuBackend()
    config = config or Config()
    bound, signature, _ = bind_arguments(kernel, args)
    final = kernel.final_ir(signature, config, be, kernel.specialized_sizes(signature, bound))
    launch = be.compile_with(final, "", config)
    sizes = bind_sizes(kernel, final, bound)
    grid = grid_size(final, sizes)
    if grid:
        launch(bound, sizes, grid)
    return launch.rendered
