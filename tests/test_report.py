"""`tilelang report`: tile sizes, every mask with its proof, every soundness check."""

from __future__ import annotations

from pathlib import Path

from tilelang.cli import main

ROOT = Path(__file__).resolve().parents[1]
GEMM = f"{ROOT / 'stdlib' / 'gemm.py'}::matmul_kernel"
KERNELS = ROOT / "tests" / "kernels.py"
UNSOUND = ROOT / "tests" / "unsound_kernels.py"


def report(capsys, *args):
    rc = main(["report", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_report_on_gemm_shows_masks_and_their_proofs(capsys):
    rc, out, _ = report(capsys, GEMM, "--dtype", "f16", "--shape", "K=4096", "--config", "BLOCK_M=128")
    assert rc == 0
    assert "m (grid): extent M, block 128 -- BLOCK_M from the Config" in out
    assert "n (grid): extent N, block 64 -- BLOCK_N: the target's default" in out
    assert "load a[m, k] dim 1: proven away: K % 32 == 0 and extent K == size K (from K == 4096)" in out
    assert "load a[m, k] dim 0: kept: cannot prove M % 128 == 0" in out
    assert "ok    reduction: the contraction of `@` ranges over k" in out
    assert "ok    store: the store to `c` depends on every multi-program grid tile (m, n)" in out
    assert out.rstrip().endswith("result: accepted")


def test_report_on_divisible_sizes(capsys):
    rc, out, _ = report(capsys, GEMM, "--dtype", "f32", "--divisible", "M=64", "--divisible", "N=64",
                        "--divisible", "K=32", "--backend", "cpu")
    assert rc == 0
    assert "store c[m, n] dim 0: proven away: M % 64 == 0 and extent M == size M (from M % 64 == 0)" in out


def test_report_on_whole_dimension_tile(capsys):
    rc, out, _ = report(capsys, f"{KERNELS}::attention_kernel", "--dtype", "f16", "--dtype", "scale=f32",
                        "--shape", "D=80")
    assert rc == 0
    assert "D_all (grid): extent 80, block 128 -- whole dimension D (padded to a power of two, masked)" in out
    assert "D_all: block 128, extent 80: one tile (block >= extent, given D == 80)" in out
    assert "dim 2: kept: cannot prove 80 % 128 == 0 (from D == 80)" in out
    assert "value index: never checked automatically" in out
    # The contraction over the padded head dimension is flagged as seeing fill values.
    assert ("the contraction of `@` ranges over D_all: not split across programs; tile `D_all` may be partial "
            "(block 128, extent 80): its padded positions hold the load's fill value") in out


def test_report_on_rejected_kernel_lists_every_error(capsys):
    rc, out, _ = report(capsys, f"{UNSOUND}::rowsum_grid_tiled", "--dtype", "f32", "--backend", "reference")
    assert rc == 1
    assert "ERROR reduction: `sum` along axis 1 reduces over grid tile `n`" in out
    assert "ERROR store: the store to `out` does not depend on grid tile `n`" in out
    assert "result: rejected (2 error(s))" in out


def test_report_of_a_kernel_with_a_user_error(capsys):
    rc, _, err = report(capsys, f"{KERNELS}::softmax_rows_kernel", "--dtype", "f32")
    assert rc == 1 and "--shape N=VALUE" in err
