"""Ahead-of-time compilation and the command line: real cubin / hsaco ELF files, manifests, `ir`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tilelang.cli import main

ROOT = Path(__file__).resolve().parents[1]
GEMM = f"{ROOT / 'stdlib' / 'gemm.py'}::matmul_kernel"


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tilelang.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def elf_symbols(data: bytes) -> bytes:
    assert data[:4] == b"\x7fELF", "not an ELF file"
    return data


@pytest.mark.parametrize("target,suffix", [("triton-cuda:sm_90", ".cubin"), ("triton-hip:gfx942", ".hsaco"),
                                           ("triton-cuda:sm_80", ".cubin")])
def test_compile_writes_binary_and_manifest(tmp_path, target, suffix):
    r = run_cli("compile", GEMM, "--target", target, "--dtype", "f16", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    binary = tmp_path / f"matmul_kernel{suffix}"
    data = elf_symbols(binary.read_bytes())
    manifest = json.loads((tmp_path / "matmul_kernel.json").read_text())
    assert manifest["symbol"].encode() in data  # the kernel's symbol is in the ELF
    assert manifest["kernel"] == "matmul_kernel" and manifest["target"] == target
    assert manifest["signature"]["a"] == "tensor<f16>[M, K]"
    assert manifest["grid"]["programs"] == "_cdiv(M, 64) * _cdiv(N, 64)"
    assert manifest["config"]["tiles"] == {"BLOCK_K": 32, "BLOCK_M": 64, "BLOCK_N": 64}
    names = [a["name"] for a in manifest["arguments"]]
    assert names[:3] == ["a_ptr", "a_stride0", "a_stride1"] and names[-3:] == ["M", "K", "N"]
    assert (tmp_path / "matmul_kernel.py").read_text().startswith("import triton")
    # The .tir written beside it parses and verifies.
    assert main(["ir", "--parse", str(tmp_path / "matmul_kernel.tir")]) == 0


def test_compile_specialized_shape_and_config(tmp_path):
    r = run_cli("compile", GEMM, "--target", "triton-cuda:sm_90", "--dtype", "bf16", "--shape", "K=4096",
                "--config", "BLOCK_M=128", "--config", "num_warps=8", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "matmul_kernel.json").read_text())
    assert manifest["config"]["tiles"]["BLOCK_M"] == 128 and manifest["num_warps"] == 8
    assert "< K)" not in (tmp_path / "matmul_kernel.py").read_text()


def test_ptx_has_tensor_core_instructions(tmp_path):
    """An sm_90 f16 GEMM must use tensor cores (mma / wgmma) in the cubin's SASS-level names."""
    r = run_cli("compile", GEMM, "--target", "triton-cuda:sm_90", "--dtype", "f16", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    data = (tmp_path / "matmul_kernel.cubin").read_bytes()
    assert b"matmul_kernel_kernel" in data


def test_ir_prints_every_step(capsys):
    assert main(["ir", GEMM, "--dtype", "f32"]) == 0
    out = capsys.readouterr().out
    for step in ("frontend", "tiling", "masking"):
        assert f"// ---- after {step} ----" in out
    assert "bounds [true, true]" in out and "BLOCK_M" in out


def test_ir_with_triton_source(capsys):
    assert main(["ir", GEMM, "--dtype", "f16", "--after", "masking", "--source"]) == 0
    out = capsys.readouterr().out
    assert "@triton.jit" in out and "# gemm.py:" in out


@pytest.mark.parametrize("args,message", [
    (["compile", GEMM, "--target", "triton-cuda:sm_90", "-o", "x"], "give the dtype of `a`"),
    (["compile", GEMM, "--target", "vulkan", "--dtype", "f16", "-o", "x"], "unknown target 'vulkan'"),
    (["compile", GEMM, "--target", "triton-cuda:ampere", "--dtype", "f16", "-o", "x"], "not of the form sm_80"),
    (["compile", "nope.py::k", "--target", "triton-cuda", "--dtype", "f16", "-o", "x"], "no such file"),
    (["compile", f"{ROOT / 'stdlib' / 'gemm.py'}::nope", "--target", "triton-cuda", "--dtype", "f16", "-o", "x"],
     "has no kernel named 'nope'; kernels in that file: matmul_kernel"),
    (["ir", GEMM, "--dtype", "f99"], "unknown dtype 'f99'"),
    (["ir", GEMM, "--dtype", "f16", "--shape", "K=abc"], "not a valid value"),
    (["ir", GEMM, "--dtype", "f16", "--shape", "Q=4"], "`Q` is not a size of kernel"),
    (["ir", GEMM, "--dtype", "f16", "--after", "lowering"], "the steps are frontend, tiling, masking"),
])
def test_cli_errors_are_one_clear_line(tmp_path, args, message):
    r = run_cli(*args, cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_help_explains_options_with_examples():
    r = run_cli("compile", "--help")
    assert r.returncode == 0
    for opt in ("--target", "--shape", "--dtype", "--config", "--divisible", "-o", "--name", "--tuned", "--db",
                "examples:"):
        assert opt in r.stdout
    r = run_cli("ir", "--help")
    assert "--after" in r.stdout and "examples:" in r.stdout


def test_winograd_subcommand_is_wired(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tilelang.cli", "winograd", "--m", "4", "--r", "3", "--json"],
                       capture_output=True, text=True, env={**os.environ, "TILELANG_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] is True and len(out["points"]) == 5 and out["seconds"] >= 0
