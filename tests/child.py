"""Run a snippet in a child process: a crash (segfault, hang) there cannot take pytest down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def run_child(code: str, cache_dir, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, TILELANG_CACHE_DIR=str(cache_dir), PYTHONPATH=str(TESTS), **(env or {}))
    prelude = "import torch, tilelang as tl, safety_kernels as K\n"
    return subprocess.run([sys.executable, "-c", prelude + code], env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def assert_clean(proc: subprocess.CompletedProcess):
    """Exit 0 (not -11 / 139: a segfault) with nothing alarming on stderr."""
    assert proc.returncode == 0, f"child exited {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
