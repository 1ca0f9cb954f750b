"""Thread safety of compiling and launching (issue 7): 8 threads calling kernels at once, in a fresh
process (where the first call imports Triton) and with Triton already imported; every result is
checked against torch. Process safety of the compile cache: two processes compiling one kernel into
one cache directory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

import tilelang as tl

from conftest import BACKENDS, assert_close, poisoned

SCRIPT = textwrap.dedent('''
    import os, sys, threading
    import torch
    if sys.argv[1] == "preimport":
        os.environ["TRITON_INTERPRET"] = "1"  # a GPU-less process imports triton in interpreter mode
        import triton  # noqa: F401
    import tilelang as tl

    @tl.tile
    def axpy(x, y, out):
        N, = x.shape
        for i in tl.tile(N):
            out[i] = 2.0 * x[i] + y[i]

    @tl.tile
    def matmul(a, b, c):
        M, K = a.shape
        K, N = b.shape
        M, N = c.shape
        for m, n in tl.tile([M, N]):
            acc = tl.zeros([m, n], tl.float32)
            for k in tl.tile(K):
                acc += a[m, k] @ b[k, n]
            c[m, n] = acc

    backends = sys.argv[2].split(",")
    start = threading.Barrier(8)
    results = []

    def work(t):
        try:
            g = torch.Generator().manual_seed(t)
            start.wait()
            for backend in backends:
                # Triton runs CUDA tensors where a GPU exists (it is then imported in GPU mode).
                dev = "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"
                n = 37 + 11 * t
                x, y = torch.randn(n, generator=g).to(dev), torch.randn(n, generator=g).to(dev)
                out = torch.full((n,), float("nan"), device=dev)
                axpy(x, y, out, backend=backend)
                torch.testing.assert_close(out.double(), 2 * x.double() + y.double(), rtol=1e-5, atol=1e-5)
                a, b = torch.randn(19 + t, 23, generator=g).to(dev), torch.randn(23, 17, generator=g).to(dev)
                c = torch.full((19 + t, 17), float("nan"), device=dev)
                matmul(a, b, c, backend=backend)
                # tf32 on a GPU: a loose tolerance (the cpu and interpreter paths are exact f32)
                torch.testing.assert_close(c.double(), a.double() @ b.double(), rtol=2e-2, atol=2e-2)
        except BaseException as e:
            results.append(f"thread {t}: {type(e).__name__}: {e}")
        else:
            results.append("ok")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print("\\n".join(sorted(results)))
''')


def run_script(tmp_path, mode: str, backends: list[str]):
    script = tmp_path / "threads.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "TILELANG_CACHE_DIR": str(tmp_path / "cache")}
    if mode == "fresh":
        env.pop("TRITON_INTERPRET", None)
    r = subprocess.run([sys.executable, str(script), mode, ",".join(backends)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines == ["ok"] * 8, r.stdout + r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fresh", "preimport"])
def test_eight_threads_in_a_new_process(tmp_path, mode):
    if "triton" not in BACKENDS:
        pytest.skip("triton is not installed")
    if mode == "preimport" and torch.cuda.is_available():
        pytest.skip("importing triton in interpreter mode is for GPU-less processes")
    run_script(tmp_path, mode, [b for b in ("triton", "cpu") if b in BACKENDS])


@tl.tile
def row_scale(x, s, out):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        out[m, n] = (x[m, n] * s).to(out.dtype)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "triton"])
def test_threads_compile_and_launch_specializations_at_once(backend):
    """Threads race to compile the same and different specializations (dtypes, ranks of work) of one
    kernel; each specialization compiles once and every result is right."""
    row_scale._compiled.clear()
    dtypes = [torch.float32, torch.float16, torch.float32, torch.float16] * 2
    errors, start = [], threading.Barrier(8)

    def work(t):
        try:
            dt = dtypes[t]
            x = torch.randn(5 + t, 33, dtype=dt)
            start.wait()
            for _ in range(3):
                out = poisoned(x.shape, dt)
                row_scale(x, 1.5, out, backend=backend)
                assert_close(out, x.double() * 1.5, "f32" if dt == torch.float32 else "f16")
        except BaseException as e:  # collected and reported by the main thread
            errors.append(f"thread {t}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, "\n".join(errors)
    runners = [k for k in row_scale._compiled if k[0] == "call"]
    assert len(runners) == 2  # one per dtype: the other threads waited for it and reused it


@pytest.mark.slow
def test_two_processes_share_one_cache(tmp_path):
    code = textwrap.dedent('''
        import torch, tilelang as tl
        @tl.tile
        def inc(x, out):
            N, = x.shape
            for i in tl.tile(N):
                out[i] = x[i] + 1.0
        x = torch.arange(100, dtype=torch.float32)
        out = torch.full((100,), float("nan"))
        inc(x, out, backend="cpu")
        assert torch.equal(out, x + 1), out
        print("ok")
    ''')
    script = tmp_path / "proc.py"
    script.write_text(code)
    env = {**os.environ, "TILELANG_CACHE_DIR": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "ok", out + err
    entries = [p for p in (tmp_path / "cache").rglob("*") if p.name.startswith(".")]
    assert not entries, entries  # no temp directories left behind
