"""The persistent tuning database: every measured config, and the winner per shape class.

One SQLite file (default `$TILELANG_CACHE_DIR/tuning.sqlite3`, or `$TILELANG_TUNING_DB`). SQLite gives
what a tuning database needs without hand-written locking: each result is one committed
transaction (a sweep interrupted half-way keeps what it measured, and resumes from there), several
processes may tune at once (WAL journal, busy timeout), and a crash never leaves a half-written
row. `TuningDB.export()` / `tilelang tune --export-db FILE.json` give a readable JSON copy.

A result is keyed by
    kernel_key   hash of the kernel's source (+ the Python constants it reads) and its signature,
                 see `kernel_key()`
    target       the backend name ("cpu", "triton", ...)
    device       the device name and architecture (`device_fingerprint()`), e.g.
                 "cpu:x86_64:sapphirerapids:avx512" or "cuda:NVIDIA H100 80GB HBM3:sm_90"
    versions     tilelang, triton, torch and llvmlite versions (`versions()`)
    shape_class  the sizes bucketed to powers of two (`shape_class()`): one winner serves a class
    config       the Config's JSON

    from tilelang.autotune import TuningDB, kernel_key
    db = TuningDB()
    for shapes, config, record in db.best_configs(kernel_key(kernel, signature), "cpu"):
        ...   # shapes: the sizes the winner was measured at; record: the row as a dict
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import time
from importlib import metadata
from pathlib import Path

from tilelang.config import Config
from tilelang.version import __version__

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    kernel_key TEXT NOT NULL, target TEXT NOT NULL, device TEXT NOT NULL, versions TEXT NOT NULL,
    shape_class TEXT NOT NULL, shapes TEXT NOT NULL, config TEXT NOT NULL,
    status TEXT NOT NULL,          -- ok | wrong (differs from the first config) | error | pruned
    time_s REAL,                   -- median seconds per call (status ok)
    detail TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    PRIMARY KEY (kernel_key, target, device, versions, shape_class, config)
);
CREATE TABLE IF NOT EXISTS best (
    kernel_key TEXT NOT NULL, target TEXT NOT NULL, device TEXT NOT NULL, versions TEXT NOT NULL,
    shape_class TEXT NOT NULL, shapes TEXT NOT NULL, config TEXT NOT NULL,
    time_s REAL, kernel_name TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
    PRIMARY KEY (kernel_key, target, device, versions, shape_class)
);
"""


# ---- the parts of a key -------------------------------------------------------------------------

def kernel_key(kernel, signature) -> str:
    """A stable hash of a kernel's source, the Python constants it reads (globals and closure
    cells that are numbers, strings or dtypes) and its signature (param -> ArgSpec: kind, dtype,
    rank). Two processes compute the same key for the same kernel; editing the kernel changes it."""
    import ast

    src = kernel.src
    h = hashlib.sha256()
    h.update(src.text.encode())
    names = sorted({n.id for n in ast.walk(src.tree) if isinstance(n, ast.Name)})
    for name in names:
        try:
            value = src.closure_value(name)
        except KeyError:
            if name not in src.globals:
                continue
            value = src.globals[name]
        if isinstance(value, (bool, int, float, str)) or type(value).__name__ == "DType":
            h.update(f"\0{name}={value!r}".encode())
    for name, spec in sorted(signature.items()):
        h.update(f"\0{name}:{spec.kind}:{spec.dtype}:{spec.rank}".encode())
    h.update(f"\0divisible_by={sorted(kernel.divisible_by.items())}".encode())
    return h.hexdigest()[:32]


def _next_pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def shape_class(sizes: dict[str, int]) -> str:
    """The class a call's sizes fall in: each size rounded up to a power of two, as sorted JSON."""
    return json.dumps({k: _next_pow2(v) for k, v in sorted(sizes.items())}, sort_keys=True)


@functools.cache
def versions() -> str:
    """tilelang, triton, torch and llvmlite versions, from package metadata (no imports)."""
    parts = [f"tilelang={__version__}"]
    for dist in ("triton", "torch", "llvmlite"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    return ";".join(parts)


@functools.cache
def device_fingerprint(device: str = "cpu") -> str:
    """Name and architecture of the device a target runs on ("cpu" or "cuda")."""
    if device == "cuda":
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability()
            return f"cuda:{torch.cuda.get_device_name()}:sm_{major}{minor}"
        return "cuda:none"
    from tilelang.autotune.hardware import cpu_isa, host_cpu_name

    import platform
    return f"cpu:{platform.machine()}:{host_cpu_name()}:{cpu_isa()}"


# ---- the database -------------------------------------------------------------------------------

def default_path() -> Path:
    env = os.environ.get("TILELANG_TUNING_DB")
    if env:
        return Path(env)
    from tilelang.runtime.cache import cache_dir

    return cache_dir() / "tuning.sqlite3"


class TuningDB:
    """The tuning database at `path` (default: `default_path()`); safe to share between processes."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # A fresh connection per operation: connections must not cross fork()/threads, and the
        # busy timeout makes a writer wait for another process's transaction instead of failing.
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 60000")
        try:
            con.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass  # a file system without shared memory: the default rollback journal still works
        con.row_factory = sqlite3.Row
        return _Closing(con)

    # ---- writing: one committed transaction per result --------------------------------------------

    def record(self, kernel_key: str, target: str, sizes: dict[str, int], config: Config, status: str,
               time_s: float | None = None, detail: str = "", device: str | None = None) -> None:
        """Store one measured config (replacing an earlier measurement of the same config)."""
        if status not in ("ok", "wrong", "error", "pruned"):
            raise ValueError(f"status {status!r}")
        row = (kernel_key, target, device or device_fingerprint(_device_of(target)), versions(),
               shape_class(sizes), json.dumps(dict(sorted(sizes.items()))), config.to_json(), status,
               time_s, detail, time.time())
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)

    def set_best(self, kernel_key: str, target: str, sizes: dict[str, int], config: Config,
                 time_s: float | None, kernel_name: str = "", device: str | None = None) -> None:
        """Store the winner for the shape class of `sizes`."""
        row = (kernel_key, target, device or device_fingerprint(_device_of(target)), versions(),
               shape_class(sizes), json.dumps(dict(sorted(sizes.items()))), config.to_json(), time_s,
               kernel_name, time.time())
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO best VALUES (?,?,?,?,?,?,?,?,?,?)", row)

    # ---- reading ------------------------------------------------------------------------------------

    def results(self, kernel_key: str, target: str, sizes: dict[str, int], device: str | None = None) -> list[dict]:
        """Every stored measurement for this kernel, target and shape class on this device and versions."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM results WHERE kernel_key=? AND target=? AND device=? AND versions=? "
                               "AND shape_class=? ORDER BY created",
                               (kernel_key, target, device or device_fingerprint(_device_of(target)), versions(),
                                shape_class(sizes))).fetchall()
        return [_row(r) for r in rows]

    def lookup(self, kernel_key: str, target: str, sizes: dict[str, int], device: str | None = None) -> Config | None:
        """The stored winner's Config for the shape class of `sizes`, or None."""
        with self._connect() as con:
            r = con.execute("SELECT config FROM best WHERE kernel_key=? AND target=? AND device=? AND versions=? "
                            "AND shape_class=?",
                            (kernel_key, target, device or device_fingerprint(_device_of(target)), versions(),
                             shape_class(sizes))).fetchone()
        return Config.from_dict(json.loads(r["config"])) if r else None

    def best_configs(self, kernel_key: str, target: str, device: str | None = None,
                     any_version: bool = False) -> list[tuple[dict[str, int], Config, dict]]:
        """One (shapes, Config, record) per tuned shape class of this kernel on `target`, for this
        device (default: the one here) and these tool versions (`any_version=True`: any); `shapes`
        are the sizes the winner was measured at, `record` the whole row as a dict."""
        q = "SELECT * FROM best WHERE kernel_key=? AND target=? AND device=?"
        params = [kernel_key, target, device or device_fingerprint(_device_of(target))]
        if not any_version:
            q += " AND versions=?"
            params.append(versions())
        with self._connect() as con:
            rows = con.execute(q + " ORDER BY shape_class, created", params).fetchall()
        out = []
        for r in rows:
            rec = _row(r)
            out.append((rec["shapes"], Config.from_dict(rec["config"]), rec))
        return out

    def export(self) -> dict:
        """The whole database as JSON-ready data: {"results": [...], "best": [...]}."""
        with self._connect() as con:
            return {t: [_row(r) for r in con.execute(f"SELECT * FROM {t} ORDER BY created")]
                    for t in ("results", "best")}

    def export_json(self, path: str | os.PathLike) -> None:
        tmp = Path(f"{path}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.export(), indent=1))
        os.replace(tmp, path)


class _Closing:
    """A connection used as `with`: closes it afterwards (sqlite3's own `with` only commits)."""

    def __init__(self, con):
        self.con = con

    def __enter__(self):
        return self.con

    def __exit__(self, *exc):
        self.con.close()


def _device_of(target: str) -> str:
    """The torch device type a target runs on (the backend registry knows)."""
    from tilelang import backend as backends

    try:
        devs = backends.get(target).devices
    except Exception:
        return "cpu"
    return "cuda" if "cuda" in devs and _cuda_here() else "cpu"


@functools.cache
def _cuda_here() -> bool:
    import torch

    return torch.cuda.is_available()


def _row(r: sqlite3.Row) -> dict:
    d = dict(r)
    for k in ("shapes", "config", "shape_class"):
        if k in d and isinstance(d[k], str):
            d[k] = json.loads(d[k])
    return d
