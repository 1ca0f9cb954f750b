"""Issue 7, differential fuzzing: random VALID elementwise kernels (a reduced form of the expression
grammar of test_frontend_fuzz.py, restricted to what type-checks) run on every backend with poisoned
outputs and shapes that are not tile multiples; outputs must match a float64 numpy evaluation of
the same expression and each other, not merely avoid internal errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl

from conftest import BACKENDS, poisoned

# (DSL text, numpy text) for leaves and operators; every combination type-checks as f32.
LEAVES = [("x[m, n]", "X"), ("y[m, n]", "Y"), ("1.5", "1.5"), ("0.25", "0.25"), ("s", "S"),
          ("x[m, n] * y[m, n]", "(X * Y)")]
UNARY = [("(-{})", "(-{})"), ("tl.abs({})", "np.abs({})"), ("tl.exp(tl.minimum({}, 3.0))", "np.exp(np.minimum({}, 3.0))"),
         ("tl.sqrt(tl.abs({}))", "np.sqrt(np.abs({}))"), ("tl.sigmoid({})", "(1 / (1 + np.exp(-({}))))")]
BINARY = [("({} + {})", "({} + {})"), ("({} - {})", "({} - {})"), ("({} * {})", "({} * {})"),
          ("tl.maximum({}, {})", "np.maximum({}, {})"), ("tl.minimum({}, {})", "np.minimum({}, {})"),
          ("tl.where({0} < {1}, {0}, {1})", "np.where({0} < {1}, {0}, {1})")]


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(LEAVES))
    if draw(st.booleans()):
        dsl, ref = draw(st.sampled_from(UNARY))
        a = draw(expressions(depth - 1))
        return dsl.format(a[0]), ref.format(a[1])
    dsl, ref = draw(st.sampled_from(BINARY))
    a, b = draw(expressions(depth - 1)), draw(expressions(depth - 1))
    return dsl.format(a[0], b[0]), ref.format(a[1], b[1])


def load_kernel(tmp_path_factory, dsl: str):
    path = tmp_path_factory.mktemp("dfuzz") / "dfuzz_kernel.py"
    path.write_text(f'''
import tilelang as tl

@tl.tile
def fuzz(x, y, out, s):
    M, N = x.shape
    for m, n in tl.tile([M, N]):
        out[m, n] = ({dsl}).to(out.dtype)
''')
    spec = importlib.util.spec_from_file_location(f"dfuzz_{abs(hash(dsl))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fuzz


@settings(max_examples=12)
@given(expr=expressions(), m=st.integers(1, 21), n=st.integers(1, 37), seed=st.integers(0, 2**16),
       s=st.floats(-2, 2, width=32), blocks=st.sampled_from([(4, 8), (8, 16), (16, 4)]))
def test_random_valid_kernels_agree_on_every_backend(tmp_path_factory, expr, m, n, seed, s, blocks):
    dsl, ref = f"(y[m, n] + {expr[0]})", f"(Y + {expr[1]})"  # a tile at the top, even for a constant expr
    kernel = load_kernel(tmp_path_factory, dsl)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(m, n, generator=g), torch.randn(m, n, generator=g)
    with np.errstate(all="ignore"):
        expected = eval(ref, {"np": np}, {"X": x.double().numpy(), "Y": y.double().numpy(), "S": float(s)})
    expected = torch.as_tensor(np.broadcast_to(expected, (m, n)).astype(np.float64))
    results = {}
    for backend in BACKENDS:
        out = poisoned((m, n), torch.float32)
        kernel(x, y, out, float(s), config=tl.Config(BLOCK_M=blocks[0], BLOCK_N=blocks[1]), backend=backend)
        assert not torch.isnan(out).any(), f"{backend} left elements unwritten for {dsl}"
        # f32 evaluation order differs from the float64 one: a loose bound against float64 ...
        torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-4,
                                   msg=lambda e, b=backend: f"{b} vs float64 for {dsl}: {e}")
        results[backend] = out
    # ... and a tight one between backends (all compute in f32).
    first = results[BACKENDS[0]]
    for backend, out in results.items():
        torch.testing.assert_close(out, first, rtol=2e-6, atol=2e-6,
                                   msg=lambda e, b=backend: f"{b} vs {BACKENDS[0]} for {dsl}: {e}")
