"""Runtime pieces: the compile cache, the backend registry, examples as tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

import tilelang as tl
from tilelang import backend as backends
from tilelang.runtime import cache
from tilelang.stdlib import matmul_kernel

ROOT = Path(__file__).resolve().parents[1]


def test_cache_store_is_atomic_and_complete(cache_dir):
    p = cache.store("demo", "k1", {"a.txt": "hello", "b.bin": b"\x00\x01"})
    assert p == cache_dir / "demo" / "k1"
    assert cache.lookup("demo", "k1", ("a.txt", "b.bin")) == p
    assert cache.lookup("demo", "k1", ("missing",)) is None
    # No temp directories are left behind.
    assert [x.name for x in (cache_dir / "demo").iterdir()] == ["k1"]


def test_cache_store_replaces_incomplete_entry(cache_dir):
    (cache_dir / "demo" / "k2").mkdir(parents=True)
    (cache_dir / "demo" / "k2" / "partial").write_text("x")
    cache.store("demo", "k2", {"a.txt": "ok"})
    assert (cache_dir / "demo" / "k2" / "a.txt").read_text() == "ok"


def test_cache_key_depends_on_config_and_target():
    from tilelang.frontend.lower import ArgSpec
    from tilelang.passes import PassContext, run_pipeline

    sig = {n: ArgSpec("tensor", "f32", 2) for n in "abc"}
    k1 = run_pipeline(matmul_kernel.lower(sig), PassContext(config=tl.Config(BLOCK_M=16)))
    k2 = run_pipeline(matmul_kernel.lower(sig), PassContext(config=tl.Config(BLOCK_M=32)))
    text = matmul_kernel.src.text
    keys = {cache.cache_key(text, k1, "triton"), cache.cache_key(text, k2, "triton"),
            cache.cache_key(text, k1, "cpu")}
    assert len(keys) == 3
    assert cache.cache_key(text, k1, "triton") == cache.cache_key(text, k1, "triton")


def test_triton_source_lands_in_cache(cache_dir):
    matmul_kernel._compiled.clear()  # earlier tests compiled it in memory
    a, b, c = torch.randn(8, 8), torch.randn(8, 8), torch.empty(8, 8)
    matmul_kernel(a, b, c, config=tl.Config(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16), backend="triton")
    files = list((cache_dir / "triton").glob("*/kernel.py"))
    assert files and "def matmul_kernel_kernel(" in files[0].read_text()


def test_default_backend_for_cpu_is_native_or_reference():
    assert backends.default_for("cpu").name in ("cpu", "reference")


def test_examples_run_and_report(tmp_path):
    for example in sorted((ROOT / "examples").glob("*.py")):
        r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "TILELANG_CACHE_DIR": str(tmp_path / "cache")})
        assert r.returncode == 0, f"{example.name}:\n{r.stdout}\n{r.stderr}"
        assert "max abs error" in r.stdout
