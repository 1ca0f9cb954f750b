"""Random kernels, valid or not: lowering, passes and the reference run either work or raise a
TileLangError with a location. An InternalCompilerError (or any other exception) is a bug."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import InternalCompilerError

# Python itself warns about some of the nonsense generated here (e.g. `[1, 2][:, None]`).
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

LEAVES = ["x[m, n]", "y[m, n]", "1.5", "3", "True", "m", "M", "x", "tl.float16", "x.shape", "m.index",
          "n.index[None, :]", "m.index[:, None]", "s", "None", "'text'", "[1, 2]", "x[m]", "x[m, n, n]",
          "tl.zeros([m, n])", "tl.full([m], 2.0, tl.int32)", "x.dtype", "m.start", "M * 2", "tl.cdiv(M, 4)",
          "x[m, n].T", "x[m, 0]", "y[m.index, n]", "x[:, n]", "tl", "range(3)", "float('nan')"]
UNARY = ["tl.exp({})", "-{}", "~{}", "~1.5", "-True", "({}).to(tl.float16)", "({}).to(x.dtype)", "tl.sum({}, axis=1)",
         "tl.max({})", "tl.argmin({}, axis=0)", "{}[:, None]", "tl.sqrt({})", "({}).T", "tl.abs({}, 3)",
         "not {}", "abs({})", "tl.where({}, 1.0, 0.0)", "tl.load({}, other=0.0)", "len({})", "{}.foo"]
BINARY = ["({} + {})", "({} @ {})", "({} // {})", "({} % {})", "({} < {})", "({} & {})", "tl.maximum({}, {})",
          "({} and {})", "({} if {} else 0)", "tl.dot({}, {}, precision='fp8')", "({} ** {})", "({} / {})"]
STATEMENTS = ["v = {}", "out[m, n] = {}", "v += {}", "out[m, n] = ({}).to(out.dtype)", "tl.store(out[m, n], {})",
              "{}", "out[m] = {}", "if {}:\n            pass", "v: int = {}"]


@st.composite
def expressions(draw, depth=2):
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(LEAVES))
    if draw(st.booleans()):
        return draw(st.sampled_from(UNARY)).format(draw(expressions(depth - 1)))
    return draw(st.sampled_from(BINARY)).format(draw(expressions(depth - 1)), draw(expressions(depth - 1)))


@st.composite
def kernels(draw):
    stmts = [draw(st.sampled_from(STATEMENTS)).format(draw(expressions())) for _ in range(draw(st.integers(1, 3)))]
    body = "\n".join("        " + s for s in stmts)
    return f'''
import tilelang as tl

@tl.tile
def fuzz(x, y, out, s):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
{body}
'''


@settings(max_examples=400)
@given(src=kernels())
def test_random_kernels_never_crash_the_compiler(tmp_path_factory, src):
    path = tmp_path_factory.mktemp("fuzz") / "fuzz_kernel.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"fuzz_{abs(hash(src))}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError:
        return  # not Python at all: Python itself reports it
    x, y = torch.randn(5, 7), torch.randn(5, 7)
    out = torch.zeros(5, 7)
    try:
        module.fuzz(x, y, out, 0.5, config=tl.Config(BLOCK_M=4, BLOCK_N=8), backend="reference")
    except InternalCompilerError as e:
        raise AssertionError(f"internal compiler error for:\n{src}\n{e}") from e
    except tl.TileLangError as e:
        assert e.loc is not None and e.loc.line > 0 or "argument" in str(e), f"error without location:\n{src}\n{e}"
