"""The on-disk compile cache.

Keys hash the kernel's source, its final IR (which includes the Config's tile sizes and the
specialization), the target, tilelang's version and the toolchain versions. Entries are
directories written under a temporary name and renamed into place, so a crash never leaves a
half-written entry. Every entry carries a manifest (`manifest.json`: its key and the SHA-256 of each
file), checked by `lookup` before anything is read: a truncated, overwritten or swapped file (or an
entry copied under another key) is discarded and rebuilt, never loaded, since loading damaged object
code can crash the process. A cache directory that cannot be used (not a directory, not writable)
gives one warning and the process compiles into a private temporary directory instead.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
from importlib import metadata
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

from tilelang.version import __version__


MANIFEST = "manifest.json"


class CacheWarning(UserWarning):
    """The configured compile cache cannot be used; compiling goes on without it."""


_fallback_lock = threading.Lock()
_fallbacks: dict[str, Path] = {}  # configured root that failed -> private temporary root


def configured_dir() -> Path:
    root = os.environ.get("TILELANG_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tilelang")
    return Path(root)


def _usable(root: Path) -> bool:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".probe.", delete=True)
        probe.close()
        return True
    except OSError:
        return False


def cache_dir() -> Path:
    """The configured cache root, or (after one warning) a private temporary one when it is unusable."""
    root = configured_dir()
    with _fallback_lock:
        if str(root) in _fallbacks:
            return _fallbacks[str(root)]
        if _usable(root):
            return root
        private = Path(tempfile.mkdtemp(prefix="tilelang-cache-"))
        atexit.register(shutil.rmtree, private, True)
        _fallbacks[str(root)] = private
    warnings.warn(f"tilelang: the compile cache directory {str(root)!r} (TILELANG_CACHE_DIR) is not a writable "
                  f"directory; compiling without a persistent cache", CacheWarning, stacklevel=2)
    return private


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


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check(p: Path, key: str, required: tuple[str, ...]) -> str:
    """'ok', 'incomplete' (a required file is not in the entry) or 'damaged' (no readable manifest,
    another key's manifest, or a file whose content does not match its recorded hash)."""
    try:
        manifest = json.loads((p / MANIFEST).read_text())
        hashes = manifest["files"]
        if manifest.get("key") != key or not isinstance(hashes, dict):
            return "damaged"
        for f in required:
            if f not in hashes:
                return "incomplete"
            if _digest((p / f).read_bytes()) != hashes[f]:
                return "damaged"
        return "ok"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "damaged"


def lookup(kind: str, key: str, required: tuple[str, ...]) -> Path | None:
    """The entry directory if it exists with every required file intact (content hashes match its
    manifest), else None; a damaged entry is discarded so the caller rebuilds it."""
    p = entry_path(kind, key)
    if not p.is_dir():
        return None
    state = _check(p, key, required)
    if state == "damaged":
        discard(kind, key)
    return p if state == "ok" else None


def store(kind: str, key: str, files: dict[str, bytes | str]) -> Path:
    """Write an entry atomically: build it in a temp dir beside it, then rename into place."""
    final = entry_path(kind, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
    try:
        hashes = {}
        for name, data in files.items():
            raw = data if isinstance(data, bytes) else data.encode()
            with open(tmp / name, "wb") as f:
                f.write(raw)
            hashes[name] = _digest(raw)
        (tmp / MANIFEST).write_text(json.dumps({"key": key, "files": hashes}, indent=1))
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
