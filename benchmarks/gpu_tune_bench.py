"""GPU: a full default sweep of the GEMM space, and what a tuning-database hit adds to a first call.

    python benchmarks/gpu_tune_bench.py            # needs a CUDA GPU; says so and exits otherwise

Targets (issue 9): the full default sweep of f16 GEMM at 4096^3 on an H100 in under 2 minutes;
a repeat call with a database hit adds under 1 second to the first call. Prints the sweep's wall
time, the winner's TFLOP/s beside torch (cuBLAS) in the same run, and the first-call lookup time
in a fresh process. NOT RUN YET: written on a machine without a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

HIT = r"""
import json, sys, time, torch
from tilelang.stdlib.gemm import matmul_kernel
from tilelang.autotune.hook import config_for_call
from tilelang.runtime.launch import bind_arguments
from tilelang import backend as backends
n = int(sys.argv[1])
a, b = torch.randn(n, n, device="cuda", dtype=torch.float16), torch.randn(n, n, device="cuda", dtype=torch.float16)
c = torch.empty(n, n, device="cuda", dtype=torch.float16)
bound, sig, dev = bind_arguments(matmul_kernel, (a, b, c))
t = time.perf_counter(); cfg = config_for_call(matmul_kernel, (a, b, c), bound, sig, backends.default_for(dev), dev)
print(json.dumps({"config": str(cfg), "lookup_s": time.perf_counter() - t}))
"""


def main():
    import torch

    if not torch.cuda.is_available():
        print("gpu_tune_bench: no CUDA GPU on this machine; nothing measured")
        return 0
    from triton.testing import do_bench

    from tilelang.autotune.sweep import tune
    from tilelang.stdlib.gemm import matmul_kernel

    os.environ.setdefault("TILELANG_CACHE_DIR", tempfile.mkdtemp(prefix="tilelang-gpu-bench-"))
    n = 4096
    a = torch.randn(n, n, device="cuda", dtype=torch.float16)
    b = torch.randn(n, n, device="cuda", dtype=torch.float16)
    c = torch.empty(n, n, device="cuda", dtype=torch.float16)
    t0 = time.perf_counter()
    r = tune(matmul_kernel, a, b, c, flops=2.0 * n ** 3, workers=os.cpu_count(), progress=True)
    sweep_s = time.perf_counter() - t0
    print(r.table())
    cublas = do_bench(lambda: a @ b, return_mode="median") / 1e3
    print(f"device {torch.cuda.get_device_name()}: full default sweep of {len(r.trials)} configs "
          f"({sum(t.status == 'pruned' for t in r.trials)} pruned) in {sweep_s:.1f} s")
    print(f"winner {r.best}: {2 * n ** 3 / r.best_time / 1e12:.0f} TFLOP/s; torch (cuBLAS) "
          f"{2 * n ** 3 / cublas / 1e12:.0f} TFLOP/s; ratio {cublas / r.best_time:.2f}")
    p = subprocess.run([sys.executable, "-c", HIT, str(n)], capture_output=True, text=True, env=dict(os.environ))
    hit = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"first-call database lookup in a fresh process: {hit['lookup_s'] * 1e3:.1f} ms -> {hit['config']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
