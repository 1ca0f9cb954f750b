"""Issue 7, CLI misuse and internal errors that belong to the user: each is one plain message and
exit status 1, never "internal compiler error"."""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path

import pytest
import torch

import tilelang as tl
from tilelang.cli import main
from tilelang.frontend.lower import ArgSpec
from tilelang.ir.parser import parse
from tilelang.ir.printer import print_kernel

REPO = Path(__file__).resolve().parent.parent
GEMM = str(REPO / "stdlib" / "gemm.py") + "::matmul_kernel"


def run_cli(capsys, *argv):
    rc = main(list(argv))
    err = capsys.readouterr().err
    assert "internal compiler error" not in err, err
    return rc, err


def test_compile_a_file_that_is_not_python(capsys):
    rc, err = run_cli(capsys, "compile", str(REPO / "README.md") + "::x", "--target", "cpu", "--dtype", "f32",
                      "-o", "out")
    assert rc == 1 and "is not a Python file" in err


def test_compile_a_python_file_with_a_syntax_error(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("x = (\n")
    rc, err = run_cli(capsys, "ir", f"{bad}::k", "--dtype", "f32")
    assert rc == 1 and f"{bad}:1:" in err and "not valid Python" in err


def test_output_naming_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep")
    rc, err = run_cli(capsys, "compile", GEMM, "--target", "cpu", "--dtype", "f32", "-o", str(target))
    assert rc == 1 and "that is a file" in err
    assert target.read_text() == "keep"


@pytest.mark.parametrize("what", ["binary", "missing", "directory"])
def test_ir_parse_of_a_bad_input(tmp_path, capsys, what):
    path = tmp_path / "k.tir"
    if what == "binary":
        path.write_bytes(bytes(range(256)))
    elif what == "directory":
        path.mkdir()
    rc, err = run_cli(capsys, "ir", "--parse", str(path))
    assert rc == 1
    assert {"binary": "not a text file", "missing": "no such file", "directory": "is a directory"}[what] in err


def _kernel_from_source(tmp_path, name, src):
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_nan_and_inf_constants_round_trip_through_the_text_form(tmp_path):
    mod = _kernel_from_source(tmp_path, "nan_kernel", '''
import tilelang as tl

@tl.tile
def f(x, out):
    M, = x.shape
    for m in tl.tile(M):
        out[m] = x[m] + tl.full([m], float("nan"), tl.float32) + tl.full([m], float("-inf"), tl.float32)
''')
    k = mod.f.lower({"x": ArgSpec("tensor", "f32", 1), "out": ArgSpec("tensor", "f32", 1)})
    text = print_kernel(k)
    back = parse(text)
    assert print_kernel(back) == text  # NaN != NaN, so compare the text forms
    values = [dict(s.value.attrs)["value"] for s in __import__("tilelang.ir.nodes", fromlist=["walk"]).walk(back.body)
              if hasattr(s, "value") and getattr(s.value, "name", "") == "full"]
    assert math.isnan(values[0]) and values[1] == -math.inf


def _long_sum_kernel(tmp_path, n):
    terms = " + ".join(f"x[m] * {i % 7 + 1}.0" for i in range(n))
    return _kernel_from_source(tmp_path, f"long{n}", f'''
import tilelang as tl

@tl.tile
def long_sum(x, out):
    M, = x.shape
    for m in tl.tile(M):
        out[m] = {terms}
''').long_sum, sum(float(i % 7 + 1) for i in range(n))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_a_1000_term_expression_compiles_in_near_linear_time(tmp_path, backend):
    """It used to raise RecursionError at 900 terms, and 400 terms took 129 s on cpu."""
    kernel, total = _long_sum_kernel(tmp_path, 1000)
    x = torch.randn(70)
    out = torch.full((70,), float("nan"))
    t0 = time.perf_counter()
    kernel(x, out, backend=backend)
    elapsed = time.perf_counter() - t0
    assert elapsed < 20, f"{elapsed:.1f}s"
    torch.testing.assert_close(out.double(), x.double() * total, rtol=1e-4, atol=1e-3)


def test_a_too_deep_expression_is_a_located_error(tmp_path):
    """Nesting (not a flat chain) deeper than Python can walk is the user's to split, not a crash."""
    expr = "- " * 1200 + "x[m]"  # no parentheses: Python's own parser accepts this depth
    mod = _kernel_from_source(tmp_path, "deep_kernel", f'''
import tilelang as tl

@tl.tile
def deep(x, out):
    M, = x.shape
    for m in tl.tile(M):
        out[m] = {expr}
''')
    with pytest.raises(tl.TileLangError) as info:
        mod.deep(torch.randn(10), torch.empty(10), backend="reference")
    assert not isinstance(info.value, tl.errors.InternalCompilerError)
    assert "deep_kernel.py:" in str(info.value)


def test_winograd_with_a_huge_m_is_refused_up_front(capsys):
    t0 = time.perf_counter()
    rc = main(["winograd", "--m", "40"])
    err = capsys.readouterr().err
    assert rc == 2 and "alpha = 42" in err and "--max-alpha" in err
    assert time.perf_counter() - t0 < 5


def test_winograd_prints_progress_lines_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    from tilelang.passes.winograd import cli as wcli

    monkeypatch.setattr(wcli, "PLAIN_PROGRESS_SECONDS", 0.0)
    assert wcli.main(["--m", "4", "--no-cache", "--generations", "3"]) == 0
    assert "tilelang winograd: searching generation" in capsys.readouterr().err
