"""Issue 7, cache faults: a damaged or mismatched cpu cache entry is discarded and rebuilt, never
loaded (loading damaged object code segfaulted inside llvmlite); an unusable cache directory gives
one warning and compiling goes on. Each damaged-entry run happens in a child process."""

from __future__ import annotations

import os
import shutil
import warnings

import pytest
import torch

from tilelang.runtime import cache

import safety_kernels as K
from child import assert_clean, run_child

RUN_ADD = """
x, y = torch.randn(1000, dtype=torch.float64).float(), torch.randn(1000).float()
out = torch.full((1000,), float('nan'))
K.add(x, y, out, backend='cpu')
assert torch.equal(out, x + y), 'wrong answer'
from tilelang.backends.cpu import STATS
print('disk_hits', STATS['disk_hits'], 'built', STATS['ir_built'])
"""
RUN_MUL = RUN_ADD.replace("K.add", "K.mul").replace("x + y", "x * y")


def entries(cache_dir):
    return sorted(p for p in (cache_dir / "cpu").iterdir() if not p.name.startswith("."))


def build_one(cache_dir, code=RUN_ADD):
    proc = run_child(code, cache_dir)
    assert_clean(proc)
    assert "built 1" in proc.stdout
    return proc


def damage_entry(entry, how):
    obj = entry / "kernel.o"
    data = obj.read_bytes()
    if how == "truncate":
        obj.write_bytes(data[: len(data) // 3])
    elif how == "overwrite":
        obj.write_bytes(bytes(range(256)) * (len(data) // 256 + 1))
    else:
        (entry / cache.MANIFEST).write_text("{not json")


@pytest.mark.slow
def test_damaged_object_file_is_rebuilt_not_loaded(tmp_path):
    """Each damage in turn: the next call rebuilds (it used to segfault in add_object_file on that
    call and every later one); a final call reuses the rebuilt entry."""
    build_one(tmp_path)
    for how in ("truncate", "overwrite", "garbage_manifest"):
        (entry,) = entries(tmp_path)
        damage_entry(entry, how)
        proc = run_child(RUN_ADD, tmp_path)
        assert_clean(proc)
        assert "built 1" in proc.stdout, how
    proc = run_child(RUN_ADD, tmp_path)
    assert_clean(proc)
    assert "built 0" in proc.stdout and "disk_hits 1" in proc.stdout


@pytest.mark.slow
def test_entries_of_another_kernel_are_not_run(tmp_path):
    """A kernel.o swapped for another kernel's, or a whole entry (manifest included) copied under
    another key, is rebuilt: the call computes x * y, not the other kernel's x + y."""
    build_one(tmp_path, RUN_ADD)
    add_entry = entries(tmp_path)[0]
    build_one(tmp_path, RUN_MUL)
    (mul_entry,) = [e for e in entries(tmp_path) if e != add_entry]
    shutil.copy(add_entry / "kernel.o", mul_entry / "kernel.o")
    proc = run_child(RUN_MUL, tmp_path)
    assert_clean(proc)
    assert "built 1" in proc.stdout
    shutil.rmtree(mul_entry)
    shutil.copytree(add_entry, mul_entry)
    proc = run_child(RUN_MUL, tmp_path)
    assert_clean(proc)
    assert "built 1" in proc.stdout


def _run_add_here():
    x, y = torch.randn(100), torch.randn(100)
    out = torch.full((100,), float("nan"))
    K.add(x, y, out, backend="cpu")
    assert torch.equal(out, x + y)


@pytest.mark.parametrize("kind", ["file", "readonly"])
def test_unusable_cache_dir_warns_once_and_compiles_anyway(tmp_path, monkeypatch, kind):
    if kind == "file":
        bad = tmp_path / "not_a_dir"
        bad.write_text("x")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only directories")
        bad = tmp_path / "ro"
        bad.mkdir()
        bad.chmod(0o500)
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(bad))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cache.store("demo", "k", {"a": "b"})
        cache.store("demo", "k2", {"a": "b"})
        _run_add_here()
    ours = [w for w in seen if issubclass(w.category, cache.CacheWarning)]
    assert len(ours) == 1 and str(bad) in str(ours[0].message)
    if kind == "file":
        assert bad.read_text() == "x"


def test_unusable_cache_dir_in_a_fresh_process(tmp_path):
    bad = tmp_path / "file"
    bad.write_text("x")
    proc = run_child(RUN_ADD, bad)
    assert_clean(proc)
    assert proc.stderr.count("CacheWarning") == 1
