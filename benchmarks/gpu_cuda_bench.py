"""The CUDA backend (tensor cores: ldmatrix + mma.sync, cp.async rings) against cuBLAS, SDPA and
our Triton backend on a CUDA GPU.

    python benchmarks/gpu_cuda_bench.py               # needs a CUDA GPU; prints device, times, ratios
    python benchmarks/gpu_cuda_bench.py --quick       # one small shape of each, for a smoke run
    python benchmarks/gpu_cuda_bench.py --dry-run     # no GPU: the same kernels through the CUDA
                                                      # emulation on CPU at small shapes, checked

Issue 11's targets (H100): f16/bf16 GEMM 4096^3 and 8192^3 >= 0.9x cuBLAS and at least our Triton
backend; flash attention forward (causal and not, seq 4096 and 8192, head dim 128) >= 0.8x SDPA;
the GEMM's compile time for one config, cold and cached. Every kernel is checked against torch
before it is timed (a wrong kernel is not timed). Times are medians of `triton.testing.do_bench`
(L2 flushed); TFLOP/s = 2*M*N*K (GEMM), 4*B*H*S*S*D (attention; half of it when causal).
This script has not been run on a GPU (none was available when it was written): launch.py, the
launcher it goes through, has only been checked without one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

import tilelang as tl
from tilelang.stdlib import flash_attention, matmul

GEMM_SIZES = [4096, 8192]
ATTN = [(4, 16, 4096, 128), (2, 16, 8192, 128)]  # batch, heads, seq, head dim
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16}
GEMM_CONFIGS = [tl.Config(BLOCK_M=128, BLOCK_N=128, BLOCK_K=32, num_warps=4, num_stages=3),
                tl.Config(BLOCK_M=128, BLOCK_N=128, BLOCK_K=32, num_warps=8, num_stages=4),
                tl.Config(BLOCK_M=128, BLOCK_N=64, BLOCK_K=32, num_warps=4, num_stages=4),
                tl.Config(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, num_warps=4, num_stages=3)]


def _close(got, want, what, tol):
    err = (got.double() - want.double()).abs().max().item() / max(1.0, want.double().abs().max().item())
    if not err <= tol:
        raise SystemExit(f"{what} differs from torch: {err:.3g} of the output's scale; not timing it")
    return err


def compile_times(dtype, device):
    """Seconds to compile the GEMM for one config: cold (empty cache: lowering, rendering, nvcc and
    ptxas) and cached (lowering and rendering again, the cubin found on disk and loaded)."""
    from tilelang import backend as backends
    from tilelang.runtime.launch import bind_arguments
    from tilelang.stdlib import matmul_kernel

    a, b, c = (torch.randn(256, 256, device=device).to(dtype) for _ in range(3))
    cfg = GEMM_CONFIGS[0]
    be = backends.get("cuda")
    bound, signature, _ = bind_arguments(matmul_kernel, (a, b, c))
    final = matmul_kernel.final_ir(signature, cfg, be, matmul_kernel.specialized_sizes(signature, bound))
    with tempfile.TemporaryDirectory() as d:
        old = os.environ.get("TILELANG_CACHE_DIR")
        os.environ["TILELANG_CACHE_DIR"] = d
        try:
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                be.compile_with(final, "", cfg)
                times.append(time.perf_counter() - t0)
        finally:
            if old is None:
                os.environ.pop("TILELANG_CACHE_DIR", None)
            else:
                os.environ["TILELANG_CACHE_DIR"] = old
    return tuple(times)


def bench_gemm(do_bench, sizes, dtypes):
    print("| GEMM | config | cuda (ours) TFLOP/s | cuBLAS TFLOP/s | ratio | triton (ours) TFLOP/s | cuda/triton |")
    print("|---|---|---|---|---|---|---|")
    for name in dtypes:
        dtype = DTYPES[name]
        for n in sizes:
            a, b = (torch.randn(n, n, device="cuda").to(dtype) for _ in range(2))
            want = a @ b
            flops = 2 * n ** 3
            best = None
            for cfg in GEMM_CONFIGS:  # the tuned figure: the best of a few configs
                _close(matmul(a, b, config=cfg, backend="cuda"), want, f"cuda GEMM {name} {n} {cfg}", 2e-2)
                ms = do_bench(lambda: matmul(a, b, config=cfg, backend="cuda"), return_mode="median")
                if best is None or ms < best[0]:
                    best = (ms, cfg)
            ours, cfg = best
            cublas = do_bench(lambda: a @ b, return_mode="median")
            _close(matmul(a, b, backend="triton"), want, f"triton GEMM {name} {n}", 2e-2)
            triton_ms = do_bench(lambda: matmul(a, b, backend="triton"), return_mode="median")
            tf = lambda ms: flops / ms / 1e9  # noqa: E731
            print(f"| {name} {n}^3 | {dict(cfg.items()) if hasattr(cfg, 'items') else cfg} | {tf(ours):.0f} | "
                  f"{tf(cublas):.0f} | {cublas / ours:.2f}x | {tf(triton_ms):.0f} | {triton_ms / ours:.2f}x |",
                  flush=True)


def bench_attention(do_bench, shapes, dtypes):
    print("| attention fwd | cuda (ours) TFLOP/s | SDPA TFLOP/s | ratio |")
    print("|---|---|---|---|")
    sdpa = torch.nn.functional.scaled_dot_product_attention
    for name in dtypes:
        dtype = DTYPES[name]
        for B, H, S, D in shapes:
            q, k, v = (torch.randn(B, H, S, D, device="cuda").to(dtype) for _ in range(3))
            for causal in (False, True):
                try:
                    got = flash_attention(q, k, v, causal=causal, backend="cuda")
                except tl.TileLangError as e:
                    print(f"| {name} {B}x{H}x{S}x{D} causal={causal} | not run: {str(e).splitlines()[0]} | | |")
                    continue
                _close(got, sdpa(q, k, v, is_causal=causal), f"attention {name} causal={causal}", 2e-2)
                flops = 4 * B * H * S * S * D / (2 if causal else 1)
                ours = do_bench(lambda: flash_attention(q, k, v, causal=causal, backend="cuda"), return_mode="median")
                peer = do_bench(lambda: sdpa(q, k, v, is_causal=causal), return_mode="median")
                print(f"| {name} {B}x{H}x{S}x{D} causal={causal} | {flops / ours / 1e9:.0f} | "
                      f"{flops / peer / 1e9:.0f} | {peer / ours:.2f}x |", flush=True)


def dry_run():
    """The same entry points through the CUDA emulation (generated code, g++, one OS thread per CUDA
    thread) at small shapes: checks that what would be timed computes the right thing."""
    from tilelang import backend as backends
    from tilelang.backends.cuda.emu import EmuBackend

    backends._load_builtin_backends()
    backends._REGISTRY["cuda-emu"] = EmuBackend()
    for name, dtype in DTYPES.items():
        a, b = torch.randn(70, 48).to(dtype), torch.randn(48, 40).to(dtype)
        err = _close(matmul(a, b, config=tl.Config(BLOCK_M=32, BLOCK_N=32, BLOCK_K=16, num_stages=3),
                            backend="cuda-emu"), a.double() @ b.double(), f"emulated GEMM {name}", 2e-2)
        print(f"dry run: GEMM {name} (ldmatrix + mma.sync, cp.async ring) matches torch, error {err:.1e}")
        q, k, v = (torch.randn(1, 2, 33, 16).to(dtype) for _ in range(3))
        for causal in (False, True):
            want = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=causal)
            err = _close(flash_attention(q, k, v, causal=causal, backend="cuda-emu"), want, "emulated attention", 2e-2)
            print(f"dry run: attention {name} causal={causal} matches SDPA, error {err:.1e}")
    print("dry run ok (no GPU timing done)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="check the kernels on CPU through the emulation and stop")
    ap.add_argument("--quick", action="store_true", help="one small shape each")
    args = ap.parse_args()
    if args.dry_run:
        return dry_run()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs one (use --dry-run to check it on CPU)")
    from triton.testing import do_bench

    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for name in DTYPES:
        cold, cached = compile_times(DTYPES[name], "cuda")
        print(f"GEMM {name} compile (one config): cold {cold:.2f} s, cached {cached * 1e3:.1f} ms")
    bench_gemm(do_bench, [1024] if args.quick else GEMM_SIZES, list(DTYPES))
    bench_attention(do_bench, [(1, 4, 1024, 128)] if args.quick else ATTN, list(DTYPES))


if __name__ == "__main__":
    main()
