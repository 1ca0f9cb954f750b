"""Run generated CUDA C++ on the CPU: the same renderer output, compiled by g++ against a small
emulation of the CUDA features it uses (thread and block ids, __syncthreads as a std::barrier over
one OS thread per CUDA thread, dynamic shared memory per block, __half / __nv_bfloat16, atomics).

Only the spellings that cannot be emulated in a header differ (the kernel qualifier and the
shared-memory declaration, via EmuRenderer); every statement, index, conversion and op is the
CUDA renderer's own code, so the tests check the CUDA backend's output for every kernel on a
machine without a GPU. The argument packing is the CUDA launcher's (launch.pack_arguments).
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from pathlib import Path

from tilelang.backend import Backend
from tilelang.errors import BackendError
from tilelang.runtime import cache

from .launch import pack_arguments
from .render import CudaRenderer

HEADER = r"""
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <algorithm>
#include <barrier>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
struct tl_dim3 { unsigned x, y, z; };
static thread_local tl_dim3 threadIdx, blockIdx;
static thread_local unsigned char* tl_emu_smem;
static thread_local std::barrier<>* tl_emu_barrier;
static std::mutex tl_emu_atomic_lock;
inline void __syncthreads() { tl_emu_barrier->arrive_and_wait(); }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline float __int_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline double __longlong_as_double(long long i) { double f; memcpy(&f, &i, 8); return f; }
inline double __longlong_as_double(unsigned long long i) { double f; memcpy(&f, &i, 8); return f; }
inline long long __double_as_longlong(double f) { long long i; memcpy(&i, &f, 8); return i; }
struct __half { uint16_t bits; };
struct __nv_bfloat16 { uint16_t bits; };
inline float __half2float(__half h) { _Float16 f; memcpy(&f, &h.bits, 2); return (float)f; }
inline __half __float2half_rn(float x) { _Float16 f = (_Float16)x; __half h; memcpy(&h.bits, &f, 2); return h; }
inline float __bfloat162float(__nv_bfloat16 h) { uint32_t u = (uint32_t)h.bits << 16; float f; memcpy(&f, &u, 4); return f; }
inline __nv_bfloat16 __float2bfloat16_rn(float x) {
  uint32_t u; memcpy(&u, &x, 4); __nv_bfloat16 h;
  if (x != x) { h.bits = (uint16_t)((u >> 16) | 0x40); return h; }
  u += 0x7FFF + ((u >> 16) & 1); h.bits = (uint16_t)(u >> 16); return h;
}
template <typename T> T atomicAdd(T* p, T v) { std::lock_guard<std::mutex> g(tl_emu_atomic_lock); T o = *p; *p = o + v; return o; }
inline __half atomicAdd(__half* p, __half v) { std::lock_guard<std::mutex> g(tl_emu_atomic_lock); __half o = *p; *p = __float2half_rn(__half2float(o) + __half2float(v)); return o; }
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* p, __nv_bfloat16 v) { std::lock_guard<std::mutex> g(tl_emu_atomic_lock); __nv_bfloat16 o = *p; *p = __float2bfloat16_rn(__bfloat162float(o) + __bfloat162float(v)); return o; }
// cp.async: each thread queues its copies; wait_group<N> performs all but the newest N groups.
struct tl_cp { void* dst; const void* src; int n, size; };  // copy n bytes, zero the rest of size
static thread_local std::vector<std::vector<tl_cp>> tl_cp_groups;
static thread_local std::vector<tl_cp> tl_cp_open;
inline void tl_cp_async4(void* dst, const void* src, bool ok) { tl_cp_open.push_back({dst, src, ok ? 4 : 0, 4}); }
inline void tl_cp_async16(void* dst, const void* src, int n) { tl_cp_open.push_back({dst, src, n, 16}); }
inline void tl_cp_commit() { tl_cp_groups.push_back(tl_cp_open); tl_cp_open.clear(); }
template <int N> void tl_cp_wait() {
  while ((int)tl_cp_groups.size() > N) {
    for (auto& c : tl_cp_groups.front()) { memcpy(c.dst, c.src, c.n); memset((char*)c.dst + c.n, 0, c.size - c.n); }
    tl_cp_groups.erase(tl_cp_groups.begin());
  }
}
// Warp-collective tensor-core instructions: each lane publishes its operands in its warp's scratch,
// the warp meets at a barrier, each lane takes its results, and the warp meets again before the
// scratch is reused. The element placement is written from the PTX ISA's descriptions of ldmatrix
// and of the mma.m16n8k16 fragments, independently of the tables in tilelang/memir/fragments.py
// that the generated code is built from, so a wrong table shows up as a wrong result.
struct tl_warp_scratch { const unsigned char* addr[32]; unsigned a[32][4]; unsigned b[32][2]; };
static thread_local tl_warp_scratch* tl_emu_warp;
static thread_local std::barrier<>* tl_emu_warp_barrier;
inline void tl_syncwarp() { tl_emu_warp_barrier->arrive_and_wait(); }
template <int N, bool TRANS> inline void tl_ldmatrix(unsigned* r, const void* p) {
  const unsigned t = threadIdx.x % 32;
  tl_emu_warp->addr[t] = (const unsigned char*)p;
  tl_syncwarp();
  for (int i = 0; i < N; ++i) {  // matrix i: rows at the addresses of lanes 8i .. 8i+7
    uint16_t lo, hi;
    if (!TRANS) {  // row t/4, halves 2(t%4), 2(t%4)+1
      const unsigned char* row = tl_emu_warp->addr[8 * i + t / 4];
      memcpy(&lo, row + 4 * (t % 4), 2); memcpy(&hi, row + 4 * (t % 4) + 2, 2);
    } else {  // the transpose: column t/4 of rows 2(t%4) and 2(t%4)+1
      memcpy(&lo, tl_emu_warp->addr[8 * i + 2 * (t % 4)] + 2 * (t / 4), 2);
      memcpy(&hi, tl_emu_warp->addr[8 * i + 2 * (t % 4) + 1] + 2 * (t / 4), 2);
    }
    r[i] = (unsigned)lo | ((unsigned)hi << 16);
  }
  tl_syncwarp();
}
inline void tl_ldmatrix_x4(unsigned* r, const void* p) { tl_ldmatrix<4, false>(r, p); }
inline void tl_ldmatrix_x4_trans(unsigned* r, const void* p) { tl_ldmatrix<4, true>(r, p); }
inline void tl_ldmatrix_x2_trans(unsigned* r, const void* p) { tl_ldmatrix<2, true>(r, p); }
inline float tl_emu_bits(uint16_t bits, __half*) { __half h; h.bits = bits; return __half2float(h); }
inline float tl_emu_bits(uint16_t bits, __nv_bfloat16*) { __nv_bfloat16 h; h.bits = bits; return __bfloat162float(h); }
// mma.m16n8k16.row.col, f32 accumulators. With g = lane / 4 and c = lane % 4, lane holds
//   A: {a0,a1} = A[g][2c, 2c+1], {a2,a3} = A[g+8][2c, 2c+1], {a4,a5} = A[g][2c+8, 2c+9], {a6,a7} = A[g+8][2c+8, 2c+9]
//   B: {b0,b1} = B[2c, 2c+1][g], {b2,b3} = B[2c+8, 2c+9][g]
//   D: {d0,d1} = D[g][2c, 2c+1], {d2,d3} = D[g+8][2c, 2c+1]
template <typename H> inline void tl_mma_m16n8k16(float* d, const unsigned* a, const unsigned* b) {
  const unsigned t = threadIdx.x % 32;
  memcpy(tl_emu_warp->a[t], a, 16); memcpy(tl_emu_warp->b[t], b, 8);
  tl_syncwarp();
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, c = l % 4;
    for (int h = 0; h < 8; ++h) {
      const unsigned w = tl_emu_warp->a[l][h / 2];
      const int row = g + (h == 2 || h == 3 || h == 6 || h == 7 ? 8 : 0), col = 2 * c + h % 2 + (h >= 4 ? 8 : 0);
      A[row][col] = tl_emu_bits((uint16_t)(h % 2 ? w >> 16 : w & 0xFFFF), (H*)nullptr);
    }
    for (int h = 0; h < 4; ++h) {
      const unsigned w = tl_emu_warp->b[l][h / 2];
      B[2 * c + h % 2 + (h >= 2 ? 8 : 0)][g] = tl_emu_bits((uint16_t)(h % 2 ? w >> 16 : w & 0xFFFF), (H*)nullptr);
    }
  }
  const int g = t / 4, c = t % 4;
  for (int h = 0; h < 4; ++h) {
    const int row = g + (h >= 2 ? 8 : 0), col = 2 * c + h % 2;
    float acc = d[h];
    for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
    d[h] = acc;
  }
  tl_syncwarp();
}
inline void tl_mma_m16n8k16_f16(float* d, const unsigned* a, const unsigned* b) { tl_mma_m16n8k16<__half>(d, a, b); }
inline void tl_mma_m16n8k16_bf16(float* d, const unsigned* a, const unsigned* b) { tl_mma_m16n8k16<__nv_bfloat16>(d, a, b); }
template <typename T> T atomicMax(T* p, T v) { std::lock_guard<std::mutex> g(tl_emu_atomic_lock); T o = *p; if (v > o) *p = v; return o; }
template <typename T> T atomicMin(T* p, T v) { std::lock_guard<std::mutex> g(tl_emu_atomic_lock); T o = *p; if (v < o) *p = v; return o; }
template <typename T, typename U> T atomicCAS(T* p, U cmp, U v) { std::lock_guard<std::mutex> g(tl_emu_atomic_lock); T o = *p; if (o == (T)cmp) *p = (T)v; return o; }
"""


class EmuRenderer(CudaRenderer):
    headers = ('#include "cuda_emu.h"',)  # the tensor-core helpers too: HEADER emulates them
    kernel_prefix = "static void"
    launch_bounds = ""
    shared_decl = "unsigned char* const tl_smem = tl_emu_smem;"
    pragma_unroll = ""


def _driver(rendered, renderer=EmuRenderer, block_setup: str = "", thread_setup: str = "") -> str:
    """`tl_launch(grid, argv)`: every block in turn, each with one OS thread per CUDA thread.
    `block_setup` / `thread_setup` are statements a target's emulation adds per block / thread."""
    ctype = {"ptr": None, "size": "long long", "stride": "long long", "size_expr": "long long"}
    unpack = []
    for i, a in enumerate(rendered.args):
        if a.kind == "ptr":
            t = renderer.half_storage.get(a.dtype, renderer.CTYPE[a.dtype]) + "*"
            unpack.append(f"*({t}*)argv[{i}]")
        elif a.kind == "scalar":
            unpack.append(f"*({renderer.CTYPE[a.dtype]}*)argv[{i}]")
        else:
            unpack.append(f"*({ctype[a.kind]}*)argv[{i}]")
    call = f"{rendered.entry}({', '.join(unpack)})"
    return f"""
extern "C" int tl_launch(long long grid, void** argv) {{
  std::vector<unsigned char> smem({max(rendered.shared_bytes, 16)});
  const unsigned nthreads = {rendered.threads}, nwarps = (nthreads + 31) / 32;
  std::vector<tl_warp_scratch> scratch(nwarps);
  for (long long b = 0; b < grid; ++b) {{
    std::barrier<> bar(nthreads);
    std::vector<std::unique_ptr<std::barrier<>>> warp_bars;
    for (unsigned w = 0; w < nwarps; ++w)
      warp_bars.emplace_back(new std::barrier<>(std::min(32u, nthreads - 32 * w)));
    {block_setup}
    std::vector<std::thread> ts;
    for (unsigned t = 0; t < {rendered.threads}; ++t)
      ts.emplace_back([&, t] {{
        threadIdx = {{t, 0, 0}}; blockIdx = {{(unsigned)b, 0, 0}}; tl_cp_groups.clear(); tl_cp_open.clear();
        tl_emu_smem = smem.data(); tl_emu_barrier = &bar;
        tl_emu_warp = &scratch[t / 32]; tl_emu_warp_barrier = warp_bars[t / 32].get(); {thread_setup}
        {call};
      }});
    for (auto& th : ts) th.join();
  }}
  return 0;
}}
"""


def build(mk, renderer=EmuRenderer, header: str = HEADER, driver=_driver, tag: str = "cuda-emu"):
    """(rendered, ctypes function) for a memory-level kernel, compiled with g++ and cached. Another
    C-family target's emulation passes its renderer, header and driver (backends/hip/emu.py)."""
    gxx = shutil.which("g++")
    if gxx is None:
        raise BackendError("the CUDA emulation needs g++")
    rendered = renderer(mk).render()
    source = rendered.source + driver(rendered)
    key = hashlib.sha256((header + source).encode()).hexdigest()[:32]
    hit = cache.lookup(tag, key, ("kernel.so",))
    if hit is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tilelang-emu-") as d:
            (Path(d) / "cuda_emu.h").write_text(header)
            (Path(d) / "kernel.cpp").write_text(source)
            res = subprocess.run([gxx, "-std=c++20", "-O1", "-fPIC", "-shared", "-pthread", "-w",
                                  "kernel.cpp", "-o", "kernel.so"], cwd=d, capture_output=True, text=True)
            if res.returncode != 0:
                raise BackendError(f"g++ rejected the emulated CUDA source:\n{res.stderr[:4000]}")
            hit = cache.store(tag, key, {"kernel.cpp": source, "kernel.so": (Path(d) / "kernel.so").read_bytes()})
    lib = ctypes.CDLL(str(hit / "kernel.so"))
    fn = lib.tl_launch
    fn.argtypes = [ctypes.c_longlong, ctypes.POINTER(ctypes.c_void_p)]
    fn.restype = ctypes.c_int
    fn._lib = lib
    return rendered, fn


class EmuBackend(Backend):
    """The CUDA backend's generated code, emulated on CPU tensors (tests register it by name when
    they want kernels called through the normal path; never registered by default)."""

    name = "cuda-emu"
    devices = ("cpu",)
    default_on = ()
    default_parallel_tile = 64
    default_sequential_tile = 32

    def compile(self, kernel, key):
        return self.compile_with(kernel, key, None)

    def compile_with(self, kernel, key, config):
        from tilelang.config import Config

        from . import memory_program

        rendered, fn = build(memory_program(kernel, config or Config()))

        def launch(args: dict, sizes: dict, grid: int):
            values, types = pack_arguments(rendered, args, sizes)
            boxes = [t(v) for v, t in zip(values, types)]
            argv = (ctypes.c_void_p * len(boxes))(*[ctypes.cast(ctypes.pointer(b), ctypes.c_void_p) for b in boxes])
            fn(grid, argv)

        launch.rendered = rendered
        return launch


def run_emulated(kernel, *args, config=None):
    """Call a @tl.tile kernel on CPU tensors through the CUDA backend's generated source, emulated."""
    from tilelang.config import Config
    from tilelang.runtime.launch import bind_arguments, bind_sizes, grid_size

    be = EmuBackend()
    config = config or Config()
    bound, signature, _ = bind_arguments(kernel, args)
    final = kernel.final_ir(signature, config, be, kernel.specialized_sizes(signature, bound))
    launch = be.compile_with(final, "", config)
    sizes = bind_sizes(kernel, final, bound)
    grid = grid_size(final, sizes)
    if grid:
        launch(bound, sizes, grid)
    return launch.rendered
