"""Misused control flow (tests/bad_control.py): each mistake is a TileLangError at the user's line,
inside a @tl.func helper when the mistake is there, never an internal error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import tilelang as tl
from tilelang.errors import InternalCompilerError

import bad_control

FILE = Path(bad_control.__file__)
LINES = FILE.read_text().splitlines()
MARKERS = {}
for lineno, line in enumerate(LINES, 1):
    m = re.search(r"# ERROR\((\w+)\): (.*)$", line)
    if m:
        MARKERS[m.group(1)] = (lineno, m.group(2).strip())

TWO_D = {"slice_past_end", "partial_condition", "partial_through_reshape"}


@pytest.mark.parametrize("case", sorted(MARKERS))
def test_control_flow_mistakes_are_located(case):
    kernel = getattr(bad_control, "calls_early_return" if case == "early_return" else case)
    shape = (8, 8) if case in TWO_D else (8,)
    line, message = MARKERS[case]
    with pytest.raises(tl.TileLangError) as info:
        kernel(torch.zeros(shape), torch.zeros(shape), 1, backend="reference")
    err = info.value
    assert not isinstance(err, InternalCompilerError), str(err)
    text = str(err)
    assert f"{FILE}:{line}:" in text, text
    assert message in text, text
    assert text.splitlines()[1].strip() == LINES[line - 1].strip()


def test_helpers_cannot_be_called_from_python():
    with pytest.raises(tl.TileLangError, match="can only be called inside a @tl.tile kernel"):
        bad_control.helper_with_bad_line(1.0)


def test_static_range_outside_a_loop_is_explained():
    with pytest.raises(tl.TileLangError, match="only be used inside a @tl.tile kernel"):
        tl.static_range(3)


def test_constant_parameter_takes_a_python_number():
    import control_kernels as K

    with pytest.raises(tl.TileLangError, match="is a constant parameter"):
        K.triangle(torch.zeros(4, 4), torch.zeros(4, 4), torch.ones(1), backend="reference")


def test_constants_must_name_parameters():
    def k(x, out):
        pass

    with pytest.raises(tl.TileLangError, match="not a parameter"):
        tl.tile(constants=("causal",))(k)
