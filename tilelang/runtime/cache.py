"""The on-disk compile cache.

Keys hash the kernel's source, its final IR (which includes the Config's tile sizes and the
specialization), the target, tilelang's version and the toolchain versions. Entries are
directories written under a temporary name and renamed into place, so a crash never leaves a
half-written entry; an entry that fails to load is discarded and rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
import os
import shutil
import tempfile
from pathlib import Path

from tilelang.version import __version__


def cache_dir() -> Path:
    root = os.environ.get("TILELANG_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tilelang")
    return Path(root)


@functools.cache
def toolchain_versions() -> str:
    """Versions of the compilers we drive, read from package metadata (importing triton here would
    fix its interpreter mode too early, see backends/triton/loader.py)."""
    parts = [f"tilelang={__version__}"]
    for dist in ("triton", "llvmlite", "torch", "numpy"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    return ";".join(parts)


def cache_key(source_text: str, kernel, target: str) -> str:
    from tilelang.ir.printer import print_kernel

    h = hashlib.sha256()
    for part in (source_text, print_kernel(kernel), target, toolchain_versions()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def entry_path(kind: str, key: str) -> Path:
    return cache_dir() / kind / key


def lookup(kind: str, key: str, required: tuple[str, ...]) -> Path | None:
    """The entry directory if it exists with every required file, else None."""
    p = entry_path(kind, key)
    if p.is_dir() and all((p / f).is_file() for f in required):
        return p
    return None


def store(kind: str, key: str, files: dict[str, bytes | str]) -> Path:
    """Write an entry atomically: build it in a temp dir beside it, then rename into place."""
    final = entry_path(kind, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
    try:
        for name, data in files.items():
            mode = "wb" if isinstance(data, bytes) else "w"
            with open(tmp / name, mode) as f:
                f.write(data)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process won the race (or a stale entry exists): keep theirs if complete.
            if lookup(kind, key, tuple(files)) is None:
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def discard(kind: str, key: str) -> None:
    shutil.rmtree(entry_path(kind, key), ignore_errors=True)
