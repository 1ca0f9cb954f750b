"""Hardware-fitting defaults and the tuning database on the CPU, measured in one run per ISA.

    python benchmarks/autotune_bench.py              # host ISA and AVX2-only, n = 1024 and 2048
    python benchmarks/autotune_bench.py --quick      # fewer repetitions

For each ISA (the host's, then an AVX2-only build via TILELANG_CPU_ISA=avx2, which an AVX-512
host also runs), in a fresh process: `tilelang.stdlib.matmul` on f32 n x n with NO config and no
tuning-database entry (TILELANG_AUTOTUNE=0: the hardware defaults only) against numpy's matmul
timed in the same process (for the AVX2 row with OPENBLAS_CORETYPE=Haswell, so the peer is
OpenBLAS's AVX2 kernel too); the median of the repetitions, ratio = numpy time / ours (>= 0.8 is
the target).
Then the cost a database hit adds to the first call of a shape: the call-path lookup
(lowering for the signature, opening the SQLite file, one query) timed in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, statistics, sys, time
import numpy as np, torch
from tilelang.stdlib import matmul
from tilelang.autotune.hardware import host_isa, microkernel_shape
reps = int(sys.argv[1]); out = []
for n in (1024, 2048):
    g = torch.Generator().manual_seed(n)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    c = matmul(a, b)                              # compile (and check) once
    err = float((c.double() - a.double() @ b.double()).abs().max())
    an, bn = a.numpy(), b.numpy()
    def med(fn):
        time.sleep(0.3); fn(); ts = []
        for _ in range(reps):
            t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
        return statistics.median(ts)
    ours, peer = med(lambda: matmul(a, b)), med(lambda: an @ bn)
    out.append({"n": n, "ours_s": ours, "numpy_s": peer, "ratio": peer / ours, "max_abs_err": err,
                "gflops": 2 * n ** 3 / ours / 1e9})
isa = host_isa()
import ctypes
blas = "?"  # OpenBLAS's kernel family (SkylakeX = AVX-512, Haswell = AVX2), read from the library numpy loaded
for lib in sorted({l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l}):
    for sym in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
        f = getattr(ctypes.CDLL(lib), sym, None)
        if f is not None:
            f.restype = ctypes.c_char_p
            blas = f().decode()
            break
print(json.dumps({"isa": isa.name, "blas": blas, "cpu": isa.cpu, "microkernel": "%dx%d" % microkernel_shape(64, 64, isa),
                  "rows": out}))
"""

HIT = r"""
import json, time, torch
import tilelang as tl
from tilelang.stdlib.gemm import matmul_kernel
from tilelang.autotune import TuningDB, kernel_key
from tilelang.autotune.hook import config_for_call
from tilelang.runtime.launch import bind_arguments
from tilelang import backend as backends
a, b, c = torch.randn(1000, 1000), torch.randn(1000, 1000), torch.empty(1000, 1000)
bound, sig, dev = bind_arguments(matmul_kernel, (a, b, c))
be = backends.default_for(dev)
best = tl.Config(BLOCK_M=64, BLOCK_N=64, BLOCK_K=256)
TuningDB().set_best(kernel_key(matmul_kernel, sig), be.name, {"M": 1000, "N": 1000, "K": 1000}, best, 1.0)
t = time.perf_counter(); got = config_for_call(matmul_kernel, (a, b, c), bound, sig, be, dev)
first = time.perf_counter() - t
t = time.perf_counter(); config_for_call(matmul_kernel, (a, b, c), bound, sig, be, dev)
again = time.perf_counter() - t
print(json.dumps({"hit": got == best, "first_call_lookup_s": first, "repeat_lookup_s": again}))
"""


def run_child(code: str, env: dict, *argv) -> dict:
    p = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode:
        raise SystemExit(p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 5 if args.quick else 11
    base = dict(os.environ, TILELANG_AUTOTUNE="0")
    base.setdefault("TILELANG_CACHE_DIR", tempfile.mkdtemp(prefix="tilelang-bench-"))
    print(f"{'isa':<7} {'cpu':<11} {'mk':<4} {'numpy BLAS':<12} {'n':>5} {'ours ms':>9} {'numpy ms':>9} "
          f"{'ratio':>6} {'GFLOP/s':>8}")
    for isa in ("host", "avx2"):
        env = dict(base, TILELANG_CPU_ISA=isa)
        if isa == "avx2":  # the peer on an AVX2-only CPU: OpenBLAS's Haswell kernels
            env["OPENBLAS_CORETYPE"] = "Haswell"
        r = run_child(CHILD, env, str(reps))
        for row in r["rows"]:
            print(f"{r['isa']:<7} {r['cpu']:<11} {r['microkernel']:<4} {r['blas']:<12} {row['n']:>5} "
                  f"{row['ours_s'] * 1e3:9.1f} "
                  f"{row['numpy_s'] * 1e3:9.1f} {row['ratio']:6.2f} {row['gflops']:8.1f}")
    env = dict(os.environ, TILELANG_CACHE_DIR=tempfile.mkdtemp(prefix="tilelang-bench-db-"))
    hit = run_child(HIT, env)
    print(f"database hit: {hit['hit']}; first-call lookup {hit['first_call_lookup_s'] * 1e3:.1f} ms, "
          f"repeat {hit['repeat_lookup_s'] * 1e6:.0f} us")


if __name__ == "__main__":
    main()
