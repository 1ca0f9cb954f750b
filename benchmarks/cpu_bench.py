"""Benchmarks of the cpu backend against numpy (OpenBLAS) and torch CPU, measured in one run.

    python benchmarks/cpu_bench.py            # everything (a few minutes on 2 cores)
    python benchmarks/cpu_bench.py --quick    # fewer repetitions

Prints one table: case, ours, peer, ratio (peer time / our time: > 1 means we are faster), and
GFLOP/s where it applies, with the machine's fp32 peak measured by an FMA loop on all cores.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tilelang as tl  # noqa: E402
from cpu_kernels import linear_relu_kernel, matmul_kernel, softmax_rows_kernel  # noqa: E402

REPS = 7
_KEEP = []  # JIT engines must outlive the functions they hold


def median_time(fn, reps=None, warmup=2):
    time.sleep(0.3)  # let the previous library's worker threads stop spin-waiting (OpenBLAS, OpenMP)
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps or REPS):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def measured_peak_gflops(threads: int) -> tuple[float, float]:
    """(fp32 GFLOP/s of an FMA-only loop on `threads` threads, implied GHz per core for 2 FMA ports x 16 lanes)."""
    import llvmlite.binding as llvm

    from tilelang.backends.cpu import jit

    chains = 24
    body = []
    ir_lines = ["define void @peak(i64 %n, ptr %out) #0 {", "entry:", "  br label %loop", "loop:",
                "  %i = phi i64 [0, %entry], [%i1, %loop]"]
    for c in range(chains):
        ir_lines.append(f"  %a{c} = phi <16 x float> [<float 1.0, float 1.0, float 1.0, float 1.0, "
                        "float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, "
                        f"float 1.0, float 1.0, float 1.0, float 1.0>, %entry], [%b{c}, %loop]")
    for c in range(chains):
        body.append(f"  %b{c} = call <16 x float> @llvm.fma.v16f32(<16 x float> %a{c}, <16 x float> "
                    "<float 0x3FEFFFFFE0000000, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, "
                    "float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, "
                    "float 1.0>, <16 x float> <float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, "
                    "float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, float 1.0, "
                    "float 1.0, float 1.0>)")
    ir_lines += body
    ir_lines += ["  %i1 = add i64 %i, 1", "  %d = icmp slt i64 %i1, %n", "  br i1 %d, label %loop, label %done",
                 "done:"]
    acc = "%b0"
    for c in range(1, chains):
        ir_lines.append(f"  %s{c} = fadd <16 x float> {acc}, %b{c}")
        acc = f"%s{c}"
    ir_lines += [f"  store <16 x float> {acc}, ptr %out, align 4", "  ret void", "}",
                 "declare <16 x float> @llvm.fma.v16f32(<16 x float>, <16 x float>, <16 x float>)",
                 'attributes #0 = { "prefer-vector-width"="512" "min-legal-vector-width"="512" }']
    triple, layout = jit.triple_and_layout()
    text = f'target triple = "{triple}"\ntarget datalayout = "{layout}"\n' + "\n".join(ir_lines)
    obj = jit.target_machine().emit_object(llvm.parse_assembly(text))
    _engine, addr = jit._load_object(obj, "peak")
    _KEEP.append(_engine)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)(addr)
    outs = [np.zeros(16, np.float32) for _ in range(threads)]
    n = 2_000_000
    pool = ThreadPoolExecutor(threads)

    def run():
        list(pool.map(lambda o: fn(n, o.ctypes.data), outs))

    t = median_time(run, reps=5, warmup=1)
    gflops = threads * n * chains * 16 * 2 / t / 1e9
    return gflops, gflops / threads / (2 * 16 * 2)


ROWS = []


def row(case, ours, peer_name, peer, flops=None):
    ROWS.append((case, ours, peer_name, peer, flops))
    g = f"{flops / ours / 1e9:7.1f}" if flops else "      -"
    gp = f"{flops / peer / 1e9:7.1f}" if flops else "      -"
    print(f"{case:34s} {ours * 1e3:9.3f} ms  {peer_name:8s} {peer * 1e3:9.3f} ms  {peer / ours:6.2f}x  "
          f"{g} {gp}", flush=True)


def bench_gemm(M, N, K, cfg):
    a, b = torch.randn(M, K), torch.randn(K, N)
    c = torch.empty(M, N)
    run = lambda: matmul_kernel(a, b, c, config=cfg)  # noqa: E731
    run()
    assert torch.allclose(c, a @ b, rtol=1e-3, atol=1e-3 * K ** 0.5)
    ours = median_time(run)
    an, bn = a.numpy(), b.numpy()
    flops = 2 * M * N * K
    row(f"gemm f32 {M}x{N}x{K}", ours, "numpy", median_time(lambda: an @ bn), flops)
    row(f"gemm f32 {M}x{N}x{K}", ours, "torch", median_time(lambda: torch.mm(a, b, out=c)), flops)


def bench_softmax(M, N, cfg):
    x = torch.randn(M, N)
    out = torch.empty(M, N)
    run = lambda: softmax_rows_kernel(x, out, config=cfg)  # noqa: E731
    run()
    torch.testing.assert_close(out, torch.softmax(x, 1))
    t_out = torch.empty(M, N)
    row(f"softmax rows f32 {M}x{N}", median_time(run), "torch",
        median_time(lambda: torch.softmax(x, 1, out=t_out) if False else torch.softmax(x, 1)))


def bench_linear_relu(M, N, K, cfg):
    a, b, bias = torch.randn(M, K), torch.randn(K, N), torch.randn(N)
    c = torch.empty(M, N)
    run = lambda: linear_relu_kernel(a, b, bias, c, config=cfg)  # noqa: E731
    run()
    torch.testing.assert_close(c, torch.relu(a @ b + bias), rtol=1e-3, atol=1e-3 * K ** 0.5)
    row(f"relu(a@b+bias) f32 {M}x{N}x{K}", median_time(run), "torch",
        median_time(lambda: torch.relu(torch.addmm(bias, a, b))), 2 * M * N * K)


COMPILE_SCRIPT = textwrap.dedent("""
    import sys, time, torch
    sys.path.insert(0, {here!r})
    import tilelang as tl
    from cpu_kernels import matmul_kernel
    from tilelang.backends.cpu import STATS
    a, b, c = torch.randn(256, 256), torch.randn(256, 256), torch.empty(256, 256)
    cfg = tl.Config(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64)
    t = time.perf_counter(); matmul_kernel(a, b, c, config=cfg); first = time.perf_counter() - t
    t = time.perf_counter(); matmul_kernel(a, b, c, config=cfg); second = time.perf_counter() - t
    print(first - second, STATS["optimized"], STATS["disk_hits"])
""")


def bench_compile():
    """First call minus a warm call, in fresh processes: cold (empty cache dir), then from the disk cache."""
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "c.py"
        script.write_text(COMPILE_SCRIPT.format(here=str(HERE)))
        env = dict(os.environ, TILELANG_CACHE_DIR=str(Path(d) / "cache"))
        env.pop("TILELANG_DUMP_LLVM", None)
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
            t, opt, hits = r.stdout.split()
            out.append((float(t), int(opt), int(hits)))
    print(f"{'gemm compile, cold (lower+LLVM O3+codegen)':44s} {out[0][0] * 1e3:8.1f} ms  (optimizer runs: {out[0][1]})")
    print(f"{'gemm compile, from the disk cache':44s} {out[1][0] * 1e3:8.1f} ms  (optimizer runs: {out[1][1]}, "
          f"disk hits: {out[1][2]})")
    return out


def main():
    global REPS
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        REPS = 3
    from tilelang.backends.cpu import num_threads

    threads = num_threads()
    peak, ghz = measured_peak_gflops(threads)
    print(f"threads: {threads}; torch threads: {torch.get_num_threads()}; numpy: {np.__version__}")
    print(f"measured fp32 peak (FMA loop, {threads} threads): {peak:.0f} GFLOP/s "
          f"(= {threads} cores x 2 FMA ports x 16 lanes x 2 flops x {ghz:.2f} GHz)")
    print(f"{'case':34s} {'ours':>12s}  {'peer':8s} {'peer time':>12s}  {'ratio':>7s}  {'GF/s':>7s} {'peer':>7s}")
    big = tl.Config(BLOCK_M=128, BLOCK_N=128, BLOCK_K=64)
    bench_gemm(512, 512, 512, tl.Config(BLOCK_M=64, BLOCK_N=128, BLOCK_K=128))
    bench_gemm(1024, 1024, 1024, big)
    bench_gemm(2048, 2048, 2048, big)
    bench_gemm(8, 4096, 4096, tl.Config(BLOCK_M=8, BLOCK_N=128, BLOCK_K=512))
    bench_softmax(4096, 4096, tl.Config(BLOCK_M=8, BLOCK_N=512))
    bench_linear_relu(1024, 1024, 1024, big)
    bench_linear_relu(2048, 2048, 2048, big)
    # Where the epilogue's memory traffic matters (64 MB output, short K), fusion pays.
    bench_linear_relu(4096, 4096, 256, tl.Config(BLOCK_M=128, BLOCK_N=128, BLOCK_K=128))
    bench_compile()


if __name__ == "__main__":
    main()
