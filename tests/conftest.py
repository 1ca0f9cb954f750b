"""Shared test fixtures: an isolated compile cache, poisoned outputs, dtype-fitting tolerances."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

# Every test process gets its own compile cache, so tests never read a stale entry from a
# developer's machine and never write outside the sandbox.
os.environ.setdefault("TILELANG_CACHE_DIR", tempfile.mkdtemp(prefix="tilelang-test-cache-"))

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

def runnable_backends() -> list[str]:
    """Every registered backend that runs CPU tensors here (the Triton backend through its interpreter)."""
    from tilelang import backend as backends

    # ascend runs CPU tensors through its emulator but refuses what the explicit-memory level does not
    # lower (scans, sort, `if`, atomics ...), so it has its own parametrized tests (tests/test_ascend.py)
    # over every kernel instead of joining every test's backend list.
    own_tests = {"ascend"}
    return [n for n in backends.names() if "cpu" in backends.get(n).devices and backends.get(n).available()[0]
            and n not in own_tests]


BACKENDS = runnable_backends()

# Where a CUDA device exists, tilelang imports Triton in GPU mode (backends/triton/loader.py), and
# Triton then cannot run CPU tensors. So on such a machine every test's call with backend="triton"
# runs on CUDA copies of its tensor arguments, and the results are copied back into the caller's
# (poisoned) tensors: the same tests check the compiled GPU kernels. Tests that need the
# interpreter itself are marked `triton_interpreter` and run in a child process (see below).
CUDA = torch.cuda.is_available() and os.environ.get("TILELANG_TEST_CHILD") != "interpreter"


def _triton_runs_cuda_tensors():
    from tilelang.api import TileKernel

    plain_call = TileKernel._call

    def call(self, args, config, backend_name):
        if backend_name != "triton":
            return plain_call(self, args, config, backend_name)
        moved = [a.cuda() if isinstance(a, torch.Tensor) and a.device.type == "cpu" else a for a in args]
        result = plain_call(self, moved, config, backend_name)
        for a, m in zip(args, moved):
            # an expanded (stride-0) tensor cannot be an output and cannot be copied into
            if m is not a and not any(st == 0 and n > 1 for st, n in zip(a.stride(), a.shape)):
                a.copy_(m.cpu())
        return result

    TileKernel._call = call


if CUDA:
    _triton_runs_cuda_tensors()


def pytest_pyfunc_call(pyfuncitem):
    """On a CUDA machine, run a `triton_interpreter` test in a child process with TRITON_INTERPRET=1."""
    if not CUDA or pyfuncitem.get_closest_marker("triton_interpreter") is None:
        return None
    import subprocess
    import sys

    env = {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": "", "TILELANG_TEST_CHILD": "interpreter"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid],
                       cwd=str(pyfuncitem.config.rootpath), env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{pyfuncitem.nodeid} under TRITON_INTERPRET=1:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    return True

TORCH_DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}

# (rtol, atol-per-unit-of-accumulation-length): output rounding of the dtype, f32 accumulation error.
TOLERANCE = {"f32": (2e-5, 2e-6), "f16": (2 ** -10, 2e-6), "bf16": (2 ** -7, 2e-6)}


def poisoned(shape, dtype, device="cpu"):
    """An output buffer full of NaN (or a sentinel for ints): any element a kernel skips shows up."""
    if dtype.is_floating_point:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    if dtype != torch.bool and torch.iinfo(dtype).min > -12345:  # unsigned and 8-bit: a sentinel that fits
        return torch.full(shape, torch.iinfo(dtype).max - 90, dtype=dtype, device=device)
    return torch.full(shape, -12345, dtype=dtype, device=device)


def assert_close(actual: torch.Tensor, expected64: torch.Tensor, dtype: str, reduction_len: int = 1):
    """Compare against a float64 reference with a tolerance that fits `dtype`."""
    assert not torch.isnan(actual.double()).any(), "output has NaN: some elements were not written"
    rtol, atol_unit = TOLERANCE[dtype]
    scale = max(1.0, float(expected64.abs().max())) if expected64.numel() else 1.0
    torch.testing.assert_close(actual.double(), expected64, rtol=rtol, atol=atol_unit * reduction_len * scale + rtol * 1e-3)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
