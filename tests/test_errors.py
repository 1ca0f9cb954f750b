"""User mistakes: each is a TileLangError that names the file, line and column, shows the line with a
caret, and says what is wrong. None may escape as a raw traceback from inside the compiler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import tilelang as tl
from tilelang.errors import InternalCompilerError, LaunchError
from tilelang.stdlib import matmul, matmul_kernel

import bad_kernels

BAD_FILE = Path(bad_kernels.__file__)
MARKERS = {}
for lineno, line in enumerate(BAD_FILE.read_text().splitlines(), 1):
    m = re.search(r"# ERROR: (.*?)(  #|$)", line)
    if m:
        MARKERS[lineno] = m.group(1).strip()

CASES = {
    "uses_if": ("f32", "f32"), "dot_shape_mismatch": ("f32", "f32", "f32"), "store_wrong_dtype": ("f32", "f16"),
    "while_loop": ("f32", "f32"), "undefined_name": ("f32", "f32"), "range_loop": ("f32", "f32"),
    "wrong_index_count": ("f32", "f32"), "carried_type_change": ("f32", "f32"), "used_after_loop": ("f32", "f32"),
    "no_grid": ("f32", "f32"), "float_mod": ("f32", "f32"), "reduction_without_axis": ("f32", "f32"),
    "list_comprehension": ("f32", "f32"), "partial_slice": ("f32", "f32"), "block_is_another_size": ("f32", "f32"),
}
TWO_D = ("reduction_without_axis", "block_is_another_size")
DT = {"f32": torch.float32, "f16": torch.float16}


def expected_line(kernel_name: str) -> int:
    src = BAD_FILE.read_text().splitlines()
    start = next(i for i, l in enumerate(src, 1) if l.startswith(f"def {kernel_name}("))
    return next(n for n in sorted(MARKERS) if n >= start)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_kernel_reports_location_and_reason(name):
    kernel = getattr(bad_kernels, name)
    args = [torch.zeros(8, 8, dtype=DT[d]) if name in ("dot_shape_mismatch", "partial_slice") or (name != "uses_if" and name in TWO_D and i == 0)
            else torch.zeros(8, dtype=DT[d]) for i, d in enumerate(CASES[name])]
    line = expected_line(name)
    with pytest.raises(tl.TileLangError) as info:
        kernel(*args, backend="reference")
    err = info.value
    assert not isinstance(err, InternalCompilerError), str(err)
    text = str(err)
    assert f"{BAD_FILE}:{line}:" in text, text
    assert MARKERS[line] in text.splitlines()[0], text  # in the message, not the quoted source line
    # The source line and a caret under the reported column.
    lines = text.splitlines()
    assert lines[1].strip() == BAD_FILE.read_text().splitlines()[line - 1].strip()
    assert lines[2].strip() == "^"
    col = int(text.split(":")[2])
    assert lines[2].index("^") - 4 == col - 1
    # The error is raised from the call, not from deep inside the compiler.
    assert str(info.traceback[-1].frame.code.path).endswith("api.py")


def test_wrong_number_of_arguments():
    with pytest.raises(LaunchError, match=r"takes 3 argument\(s\) \(a, b, c\), got 2"):
        matmul_kernel(torch.zeros(4, 4), torch.zeros(4, 4))


def test_wrong_dtype_argument():
    with pytest.raises(LaunchError, match="dtype torch.complex64, which tilelang does not support"):
        matmul_kernel(torch.zeros(4, 4, dtype=torch.complex64), torch.zeros(4, 4), torch.zeros(4, 4))


def test_wrong_rank_argument():
    with pytest.raises(tl.TileLangError, match="`a` has 3 dimension\\(s\\) but the kernel unpacks 2"):
        matmul_kernel(torch.zeros(2, 4, 4), torch.zeros(4, 4), torch.zeros(4, 4))


def test_inconsistent_sizes():
    with pytest.raises(LaunchError, match=r"b.shape\[0\] is 5 but a.shape\[1\] is 4"):
        matmul_kernel(torch.zeros(4, 4), torch.zeros(5, 4), torch.zeros(4, 4))


def test_mixed_devices():
    """CPU and another device mixed (meta stands in for CUDA on a machine without a GPU)."""
    with pytest.raises(LaunchError, match="tensors on different devices .*a on cpu.*b on meta"):
        matmul_kernel(torch.zeros(4, 4), torch.zeros(4, 4, device="meta"), torch.zeros(4, 4))


def test_numpy_argument_is_explained():
    import numpy as np

    with pytest.raises(LaunchError, match="torch.from_numpy"):
        matmul_kernel(np.zeros((4, 4)), torch.zeros(4, 4), torch.zeros(4, 4))


def test_matmul_wrapper_checks():
    with pytest.raises(LaunchError, match="a is torch.float16 but b is torch.float32"):
        matmul(torch.zeros(4, 4, dtype=torch.float16), torch.zeros(4, 4))
    with pytest.raises(LaunchError, match="inner dimensions differ"):
        matmul(torch.zeros(4, 5), torch.zeros(4, 4))


def test_unknown_config_entry():
    with pytest.raises(tl.TileLangError, match="Config sets BLOCK_Q, which kernel `matmul_kernel` does not have"):
        matmul_kernel(torch.zeros(4, 4), torch.zeros(4, 4), torch.zeros(4, 4), config=tl.Config(BLOCK_Q=16))


def test_non_power_of_two_tile_on_triton():
    with pytest.raises(tl.TileLangError, match="BLOCK_M=24 must be a power of two on target triton"):
        matmul_kernel(torch.zeros(4, 4), torch.zeros(4, 4), torch.zeros(4, 4), config=tl.Config(BLOCK_M=24),
                      backend="triton")


def test_unknown_backend():
    with pytest.raises(tl.TileLangError, match="unknown backend 'nvgpu'"):
        matmul_kernel(torch.zeros(4, 4), torch.zeros(4, 4), torch.zeros(4, 4), backend="nvgpu")


def test_zero_size_dimension_is_an_empty_result():
    c = torch.zeros(0, 3)
    matmul_kernel(torch.zeros(0, 4), torch.zeros(4, 3), c, backend="reference")
    assert c.shape == (0, 3)


def test_tile_loop_outside_kernel():
    with pytest.raises(tl.TileLangError, match="is a tile loop"):
        tl.tile([4, 4])


def test_builtin_outside_kernel():
    with pytest.raises(tl.TileLangError, match=r"tl.exp\(...\) can only be used inside a @tl.tile kernel"):
        tl.exp(1.0)


def test_constant_folding_and_size_aliases_work():
    x = torch.randn(20)
    out = torch.full((20,), float("nan"))
    bad_kernels.simple_copy(x, out, backend="reference")
    assert torch.equal(out, x)
