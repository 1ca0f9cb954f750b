"""Launch overhead: what one call of a cached, small kernel costs us, against the same work done by
a peer with no call path of its own.

    python benchmarks/launch_overhead.py              # 7 runs of 2000 calls (batches of 25)
    python benchmarks/launch_overhead.py --quick      # 3 runs of 500 calls

Cases (a 4096-element f32 add, `out = x + y`, compiled once before timing):
- cpu backend: our call vs the native call of the same compiled function through ctypes with the
  argument slots packed beforehand (the floor for any Python call path), and vs torch.add(out=).
- triton backend on a CUDA device (only where one exists): our call vs a raw Triton launch of the
  same generated @triton.jit function with the same arguments. Host time per call, synchronized
  once after each batch of calls.

ratio = our time / peer time (< 1.3 is the target against raw Triton); "over" = ours - peer.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import tilelang as tl
from tilelang.ir.nodes import size_symbols


@tl.tile
def add(x, y, out):
    N, = x.shape
    for i in tl.tile(N):
        out[i] = x[i] + y[i]


def per_call_us(fn, calls: int, runs: int, sync=None, batch: int = 25) -> float:
    """Median over `runs` runs of the per-call time, each run the median of `calls // batch` short
    batches of `batch` calls, in microseconds. Short batches keep a time slice taken by another
    process (the machine is shared) out of most samples; the median drops the rest."""
    for _ in range(max(10, calls // 10)):
        fn()
    if sync:
        sync()
    runs_us = []
    for _ in range(runs):
        batches = []
        for _ in range(max(1, calls // batch)):
            t = time.perf_counter()
            for _ in range(batch):
                fn()
            if sync:
                sync()
            batches.append((time.perf_counter() - t) / batch * 1e6)
        runs_us.append(statistics.median(batches))
    return statistics.median(runs_us)


def cpu_rows(n: int, calls: int, runs: int) -> list[tuple]:
    x, y, out = torch.randn(n), torch.randn(n), torch.empty(n)
    runner = add.specialize(x, y, out, backend="cpu")
    add(x, y, out, backend="cpu")
    torch.testing.assert_close(out, x + y)

    launcher = runner.launcher
    sizes = {"N": n}
    grid = 1
    for t in runner.kernel.grid_loop.tiles:  # the grid, computed once here, as a native caller would
        grid *= -(-n // int(t.block))
    buf, _ = launcher.pack({"x": x, "y": y, "out": out}, sizes)
    ptr = buf.buffer_info()[0]
    fn = launcher.fn
    out.zero_()
    fn(ptr, 0, grid)
    torch.testing.assert_close(out, x + y)

    ours = per_call_us(lambda: add(x, y, out, backend="cpu"), calls, runs)
    native = per_call_us(lambda: fn(ptr, 0, grid), calls, runs)
    torch_add = per_call_us(lambda: torch.add(x, y, out=out), calls, runs)
    case = f"add f32 n={n} (grid {grid}), cpu backend"
    return [(case, ours, "native ctypes call", native), (case, ours, "torch.add(out=)", torch_add)]


def triton_rows(n: int, calls: int, runs: int) -> list[tuple]:
    x, y, out = (torch.randn(n, device="cuda") for _ in range(3))
    runner = add.specialize(x, y, out, backend="triton")
    add(x, y, out, backend="triton")
    torch.testing.assert_close(out, x + y)
    jit_fn = runner.launcher.fn  # the generated @triton.jit function our launcher calls
    grid = 1
    for t in runner.kernel.grid_loop.tiles:
        grid *= -(-n // int(t.block))
    # the launcher's own argument list (pointers, strides, sizes), built once here
    sizes = {name: n for name in size_symbols(runner.kernel)}  # every dimension here is n
    values = runner.launcher.values_of({"x": x, "y": y, "out": out}, sizes)
    sync = torch.cuda.synchronize
    ours = per_call_us(lambda: add(x, y, out, backend="triton"), calls, runs, sync)
    raw = per_call_us(lambda: jit_fn[(grid,)](*values, num_warps=4, num_stages=2), calls, runs, sync)
    torch_add = per_call_us(lambda: torch.add(x, y, out=out), calls, runs, sync)
    case = f"add f32 n={n}, triton on {torch.cuda.get_device_name()}"
    return [(case, ours, "raw Triton launch", raw), (case, ours, "torch.add(out=)", torch_add)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 runs of 500 calls")
    ap.add_argument("--n", type=int, default=4096, help="elements in the add (default 4096)")
    args = ap.parse_args(argv)
    calls, runs = (500, 3) if args.quick else (2000, 7)
    print(f"# {' '.join(['python'] + sys.argv)}: median of {runs} runs, each the median of {calls // 25} batches "
          f"of 25 calls; torch {torch.__version__}")
    rows = cpu_rows(args.n, calls, runs)
    if torch.cuda.is_available():
        rows += triton_rows(args.n, calls, runs)
    else:
        print("# no CUDA device: the triton launch case is skipped")
    print("| case | ours (us/call) | peer | peer (us/call) | ratio ours/peer | over (us) |")
    print("|---|---|---|---|---|---|")
    for case, ours, peer, theirs in rows:
        print(f"| {case} | {ours:.2f} | {peer} | {theirs:.2f} | {ours / theirs:.2f}x | {ours - theirs:.2f} |")


if __name__ == "__main__":
    main()
