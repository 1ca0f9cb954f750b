"""The autotuner: the tuning database, search spaces, sweeps on the cpu backend, the CLI."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

import tilelang as tl
from tilelang.autotune import TuningDB, kernel_key, shape_class
from tilelang.autotune.db import device_fingerprint, versions
from tilelang.frontend.lower import ArgSpec
from tilelang.stdlib.gemm import matmul_kernel

SIG_F32 = {"a": ArgSpec("tensor", "f32", 2), "b": ArgSpec("tensor", "f32", 2),
           "c": ArgSpec("tensor", "f32", 2)}


# ---- the database -------------------------------------------------------------------------------

def test_kernel_key_is_stable_and_separates_signatures():
    k1 = kernel_key(matmul_kernel, SIG_F32)
    assert k1 == kernel_key(matmul_kernel, dict(SIG_F32))
    sig16 = {n: ArgSpec("tensor", "f16", 2) for n in "abc"}
    assert kernel_key(matmul_kernel, sig16) != k1

    @tl.tile
    def other(a, b, c):
        M, K = a.shape
        K, N = b.shape
        M, N = c.shape
        for m, n in tl.tile([M, N]):
            acc = tl.zeros([m, n], tl.float32)
            for k in tl.tile(K):
                acc += a[m, k] @ b[k, n]
            c[m, n] = (acc * 2).to(c.dtype)
    assert kernel_key(other, SIG_F32) != k1


def test_shape_class_buckets_by_power_of_two():
    assert shape_class({"M": 1000, "N": 1024}) == shape_class({"N": 1024, "M": 513})
    assert shape_class({"M": 1000}) != shape_class({"M": 1025})


def test_db_roundtrip_best_configs_and_export(tmp_path):
    db = TuningDB(tmp_path / "t.sqlite3")
    key = kernel_key(matmul_kernel, SIG_F32)
    cfg = tl.Config(BLOCK_M=32, BLOCK_N=64, BLOCK_K=128)
    sizes = {"M": 300, "N": 257, "K": 129}
    assert db.lookup(key, "cpu", sizes) is None
    db.record(key, "cpu", sizes, cfg, "ok", 1e-3)
    db.record(key, "cpu", sizes, tl.Config(BLOCK_M=16), "wrong", None, "max abs diff 3.0")
    db.set_best(key, "cpu", sizes, cfg, 1e-3, "matmul_kernel")
    assert db.lookup(key, "cpu", {"M": 511, "N": 300, "K": 200}) == cfg  # same class
    assert db.lookup(key, "cpu", {"M": 4096, "N": 300, "K": 200}) is None
    assert db.lookup(key, "triton", sizes) is None
    [(shapes, config, rec)] = db.best_configs(key, "cpu")
    assert shapes == sizes and config == cfg and rec["time_s"] == 1e-3
    assert rec["device"] == device_fingerprint("cpu") and rec["versions"] == versions()
    assert db.best_configs(key, "cpu", device="cuda:other") == []
    statuses = sorted(r["status"] for r in db.results(key, "cpu", sizes))
    assert statuses == ["ok", "wrong"]
    db.export_json(tmp_path / "db.json")
    data = json.loads((tmp_path / "db.json").read_text())
    assert len(data["results"]) == 2 and data["best"][0]["config"]["tiles"]["BLOCK_N"] == 64


def test_db_default_path_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_TUNING_DB", str(tmp_path / "x" / "db.sqlite3"))
    assert TuningDB().path == tmp_path / "x" / "db.sqlite3"
    assert (tmp_path / "x" / "db.sqlite3").exists()


def _writer(path, worker, n):
    db = TuningDB(path)
    for i in range(n):
        db.record("k", "cpu", {"M": 64}, tl.Config(BLOCK_M=worker * 1000 + i + 1), "ok", float(i))


def test_db_several_processes_write_at_once(tmp_path):
    path = tmp_path / "t.sqlite3"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = TuningDB(path).results("k", "cpu", {"M": 64})
    assert len(rows) == 100
    assert len({json.dumps(r["config"]) for r in rows}) == 100
