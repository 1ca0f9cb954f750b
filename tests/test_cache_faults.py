"""Issue 7, cache faults: a damaged or mismatched cpu cache entry is discarded and rebuilt, never
loaded (loading damaged object code segfaulted inside llvmlite); an unusable cache directory gives
one warning and compiling goes on. Each damaged-entry run happens in a child process."""

from __future__ import annotations

import os
import shutil
import warnings

import pytest
import torch

import tilelang as tl
from tilelang.runtime import cache

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


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "overwrite", "garbage_manifest"])
def test_damaged_object_file_is_rebuilt_not_loaded(tmp_path, damage):
    build_one(tmp_path)
    (entry,) = entries(tmp_path)
    obj = entry / "kernel.o"
    data = obj.read_bytes()
    if damage == "truncate":
        obj.write_bytes(data[: len(data) // 3])
    elif damage == "overwrite":
        obj.write_bytes(bytes(range(256)) * (len(data) // 256 + 1))
    elif damage == "empty":
        obj.write_bytes(b"")
    elif damage == "drop_manifest":
        (entry / cache.MANIFEST).unlink()
    else:
        (entry / cache.MANIFEST).write_text("{not json")
    for _ in range(2):  # the damaged call and every later one run cleanly
        proc = run_child(RUN_ADD, tmp_path)
        assert_clean(proc)
    assert "built 0" in proc.stdout and "disk_hits 1" in proc.stdout  # rebuilt once, then reused


@pytest.mark.slow
def test_object_file_swapped_for_another_kernels_is_not_run(tmp_path):
    build_one(tmp_path, RUN_ADD)
    add_entry = entries(tmp_path)[0]
    build_one(tmp_path, RUN_MUL)
    (mul_entry,) = [e for e in entries(tmp_path) if e != add_entry]
    shutil.copy(add_entry / "kernel.o", mul_entry / "kernel.o")
    proc = run_child(RUN_MUL, tmp_path)  # asserts x * y, not x + y
    assert_clean(proc)
    assert "built 1" in proc.stdout


@pytest.mark.slow
def test_whole_entry_copied_under_another_key_is_not_run(tmp_path):
    build_one(tmp_path, RUN_ADD)
    add_entry = entries(tmp_path)[0]
    build_one(tmp_path, RUN_MUL)
    (mul_entry,) = [e for e in entries(tmp_path) if e != add_entry]
    shutil.rmtree(mul_entry)
    shutil.copytree(add_entry, mul_entry)  # manifest included: it names the other key
    proc = run_child(RUN_MUL, tmp_path)
    assert_clean(proc)
    assert "built 1" in proc.stdout


def _run_add_here():
    x, y = torch.randn(100), torch.randn(100)
    out = torch.full((100,), float("nan"))
    tl.Config  # noqa: B018 (import check)
    import safety_kernels as K

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
