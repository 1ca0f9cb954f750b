"""`tilelang compile --tuned`: the tuning database's configs become one dispatching entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tilelang.config import Config

from test_aot_c import GEMM_MAIN, KERNELS_FILE, assert_close64, gcc_program, needs_gcc

autotune = pytest.importorskip("tilelang.autotune", reason="the tuning database (tilelang.autotune) is not merged")


def _compile(*args):
    return subprocess.run([sys.executable, "-m", "tilelang.cli", "compile", *args], capture_output=True, text=True)


@pytest.fixture
def tuned_db(tmp_path):
    from tilelang.api import kernel_signature_from_options
    from tilelang.frontend.source import file_kernels

    src = tmp_path / "k.py"
    src.write_text(KERNELS_FILE)
    gemm = next(k for k in file_kernels(str(src)) if k.name == "gemm")
    key = autotune.kernel_key(gemm, kernel_signature_from_options(gemm, {"*": "f32"}, {}))
    db = autotune.TuningDB(tmp_path / "tuning.sqlite3")
    db.set_best(key, "cpu", {"M": 64, "N": 64, "K": 64}, Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), 1e-5, "gemm")
    db.set_best(key, "cpu", {"M": 512, "N": 512, "K": 512}, Config(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32), 1e-3, "gemm")
    db.set_best(key, "triton", {"M": 4096, "N": 4096, "K": 4096}, Config(BLOCK_M=128, BLOCK_N=128, BLOCK_K=32,
                num_warps=8), 1e-4, "gemm", device="cuda:NVIDIA H100 80GB HBM3:sm_90")
    return src, db.path


@needs_gcc
def test_tuned_cpu_library_dispatches_by_shape(tmp_path, tuned_db):
    src, db = tuned_db
    out = tmp_path / "out"
    r = _compile(f"{src}::gemm", "--target", "cpu", "--dtype", "f32", "--tuned", "--db", str(db), "-o", str(out))
    assert r.returncode == 0, r.stderr
    configs = sorted(json.loads((out / f"gemm__t{i}.json").read_text())["config"]["tiles"]["BLOCK_M"] for i in (0, 1))
    assert configs == [16, 64]
    main = GEMM_MAIN.replace('printf("%d\\n", status);', 'printf("%d %s\\n", status, gemm_choice(M, K, N));')
    exe = gcc_program(out, "gemm", main, "gemm_main")
    small = "gemm__t0" if json.loads((out / "gemm__t0.json").read_text())["config"]["tiles"]["BLOCK_M"] == 16 \
        else "gemm__t1"
    for (M, K, N), want in [((48, 32, 80), small), ((37, 5, 11), "gemm__default")]:
        rng = np.random.default_rng(M)
        a, b = rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)
        with open(tmp_path / "in.bin", "wb") as f:
            a.tofile(f)
            np.ascontiguousarray(b.T).tofile(f)
        r = subprocess.run([str(exe), str(M), str(K), str(N), str(tmp_path / "in.bin"), str(tmp_path / "o.bin")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.split() == ["0", want], r.stdout + r.stderr
        c = np.fromfile(tmp_path / "o.bin", dtype=np.float32).reshape(M, N).astype(np.float64)
        assert_close64(c, a.astype(np.float64) @ b.astype(np.float64), K)


def test_tuned_gpu_target_reads_tunings_of_that_architecture(tmp_path, tuned_db):
    src, db = tuned_db
    out = tmp_path / "out"
    r = _compile(f"{src}::gemm", "--target", "triton-cuda:sm_90", "--dtype", "f32", "--tuned", "--db", str(db),
                 "-o", str(out))
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "gemm__t0.json").read_text())
    assert m["config"]["tiles"]["BLOCK_M"] == 128 and m["num_warps"] == 8 and m["block"] == [256, 1, 1]
    assert not (out / "gemm__t1.json").exists()
    assert "const char *gemm_choice(int64_t M, int64_t K, int64_t N)" in (out / "gemm.h").read_text()
    r = _compile(f"{src}::gemm", "--target", "triton-cuda:sm_80", "--dtype", "f32", "--tuned", "--db", str(db),
                 "-o", str(out))
    assert r.returncode == 1 and "no tuned configs" in r.stderr and "sm_80" in r.stderr, r.stderr


def test_tuned_whole_file_dispatches_only_tuned_kernels(tmp_path, tuned_db):
    src, db = tuned_db
    out = tmp_path / "out"
    r = _compile(str(src), "--target", "cpu", "--dtype", "f32", "--dtype", "shift=i32", "--tuned", "--db", str(db),
                 "-o", str(out))
    assert r.returncode == 0, r.stderr
    header = (out / "k.h").read_text()
    assert "gemm_choice(" in header and "softmax_choice(" not in header and "int softmax(" in header
