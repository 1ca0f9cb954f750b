"""What a call accepts (issue 7, call path): tensors with torch's negative bit, sparse and nested
tensors, non-contiguous views, dimensions the kernel does not name, module globals and closure
values that change between calls, keyword arguments, a number passed for a tensor. Every accepted
case is checked against torch in float64 on every backend that runs here; every rejected one must be
a TileLangError naming this file (never an internal error)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

import tilelang as tl
from tilelang.errors import InternalCompilerError, LaunchError

from conftest import BACKENDS, assert_close, poisoned

HERE = str(Path(__file__).resolve())


@tl.tile
def axpy(x, y, out):
    N, = x.shape
    for i in tl.tile(N):
        out[i] = 2.0 * x[i] + y[i]


@tl.tile
def matmul_unnamed_c(a, b, c):
    M, K = a.shape
    K, N = b.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = acc


SCALE = 2.0


@tl.tile
def scale_by_global(x, out):
    N, = x.shape
    for i in tl.tile(N):
        out[i] = x[i] * SCALE


def make_closure_kernel():
    factor = 3.0

    @tl.tile
    def scale_by_closure(x, out):
        N, = x.shape
        for i in tl.tile(N):
            out[i] = x[i] * factor

    def set_factor(v):
        nonlocal factor
        factor = v

    return scale_by_closure, set_factor


def neg_view(values: torch.Tensor) -> torch.Tensor:
    """A float tensor equal to `values` whose storage holds -values (torch's negative bit is set)."""
    z = torch.complex(torch.zeros_like(values), -values)
    v = z.conj().imag
    assert v.is_neg()
    return v


def raises_located(fn, *needles):
    with pytest.raises(tl.TileLangError) as info:
        fn()
    err = info.value
    assert not isinstance(err, InternalCompilerError), str(err)
    text = str(err)
    assert HERE in text, text
    for n in needles:
        assert n in text, text
    return text


# ---- negative bit: resolved, on inputs and outputs ---------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**16))
def test_negative_bit_inputs_and_outputs(backend, n, seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, generator=g), torch.randn(n, generator=g)
    xn = neg_view(x)
    out = poisoned((n,), torch.float32)
    axpy(xn, y, out, backend=backend)
    assert_close(out, 2 * x.double() + y.double(), "f32")
    # A negative-bit output: the kernel writes logical values, torch reads them back the same way.
    holder = torch.complex(torch.zeros(n), torch.full((n,), float("nan")))
    out_neg = holder.conj().imag
    assert out_neg.is_neg()
    axpy(x, y, out_neg, backend=backend)
    assert_close(out_neg.resolve_neg(), 2 * x.double() + y.double(), "f32")
    assert_close(-holder.imag, 2 * x.double() + y.double(), "f32")


# ---- layouts: strided views run; other layouts are rejected with a message ---------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_non_contiguous_and_broadcast_views(backend):
    torch.manual_seed(1)
    base = torch.randn(3, 131)
    x = base[1, ::2]  # stride 2
    y = torch.randn(1).expand(66)  # stride 0
    out = poisoned((66,), torch.float32)
    axpy(x, y, out, backend=backend)
    assert_close(out, 2 * x.double() + y.double(), "f32")
    a, b = torch.randn(37, 19).t(), torch.randn(37, 21)  # a transposed view
    c = poisoned((19, 21), torch.float32)
    matmul_unnamed_c(a, b, c, backend=backend)
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=37)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_sparse_tensor_is_rejected():
    x = torch.randn(16)
    raises_located(lambda: axpy(x.to_sparse(), x, torch.empty(16)), "`x` is a sparse tensor", "x.to_dense()")
    raises_located(lambda: axpy(x, x.to_sparse(), torch.empty(16)), "`y` is a sparse tensor")
    m = torch.randn(4, 4)
    raises_located(lambda: matmul_unnamed_c(m.to_sparse_csr(), m, torch.empty(4, 4)), "`a` is a sparse tensor")


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_nested_tensor_is_rejected():
    nt = torch.nested.nested_tensor([torch.randn(3), torch.randn(5)])
    raises_located(lambda: axpy(nt, torch.randn(3), torch.empty(3)), "`x` is a nested tensor")


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_nested_tensor_is_rejected_once_a_tuning_database_exists(tmp_path, monkeypatch):
    """With a tuning database present, calls key their memo by shape class: a nested tensor (whose
    .shape raises) must still get the located error, not an internal one."""
    from tilelang.autotune import hook

    db = tmp_path / "tuning.sqlite3"
    db.touch()
    monkeypatch.setenv("TILELANG_TUNING_DB", str(db))
    monkeypatch.setattr(hook, "_db_seen", [True, 0.0])
    nt = torch.nested.nested_tensor([torch.randn(3), torch.randn(5)])
    raises_located(lambda: axpy(nt, torch.randn(3), torch.empty(3)), "`x` is a nested tensor")


# ---- every dimension the kernel uses is tied to a size ---------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_unnamed_output_smaller_than_the_product_is_an_error(backend):
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    c = torch.zeros(4, 4)
    raises_located(lambda: matmul_unnamed_c(a, b, c, backend=backend), "c.shape[0] is 4", "M = 8")
    assert (c == 0).all()  # nothing was launched


@pytest.mark.parametrize("backend", BACKENDS)
def test_shorter_unnamed_input_is_an_error(backend):
    x, y = torch.randn(16), torch.randn(12)
    raises_located(lambda: axpy(x, y, torch.empty(16), backend=backend), "y.shape[0] is 12", "N = 16")
    raises_located(lambda: axpy(x, torch.randn(16), torch.empty(20), backend=backend), "out.shape[0] is 20")


def test_size_errors_are_the_same_on_a_cached_specialization():
    x = torch.randn(16)
    axpy(x, x, torch.empty(16))  # compiles and caches the specialization
    first = raises_located(lambda: axpy(x, torch.randn(12), torch.empty(16)), "y.shape[0] is 12")
    again = raises_located(lambda: axpy(x, torch.randn(12), torch.empty(16)), "y.shape[0] is 12")
    assert first == again


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(1, 70))
def test_unnamed_output_of_the_right_shape_runs(backend, m, n, k):
    a, b = torch.randn(m, k), torch.randn(k, n)
    c = poisoned((m, n), torch.float32)
    matmul_unnamed_c(a, b, c, backend=backend)
    assert_close(c, a.double() @ b.double(), "f32", reduction_len=k)


# ---- globals and closure values: a change recompiles ------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_changed_module_global_is_used(backend):
    global SCALE
    x = torch.randn(45)
    try:
        for value in (2.0, 5.0, -0.5, 2.0):
            SCALE = value
            out = poisoned((45,), torch.float32)
            scale_by_global(x, out, backend=backend)
            assert_close(out, x.double() * value, "f32")
    finally:
        SCALE = 2.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_changed_closure_value_is_used(backend):
    kernel, set_factor = make_closure_kernel()
    x = torch.randn(45)
    for value in (3.0, 7.0):
        set_factor(value)
        out = poisoned((45,), torch.float32)
        kernel(x, out, backend=backend)
        assert_close(out, x.double() * value, "f32")


def test_unchanged_globals_reuse_the_specialization():
    x, out = torch.randn(8), torch.empty(8)
    scale_by_global(x, out)
    n = len(scale_by_global._compiled)
    scale_by_global(x, out)
    assert len(scale_by_global._compiled) == n


# ---- arguments: keywords, numbers for tensors ---------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_keyword_arguments_bind_by_name(backend):
    x, y = torch.randn(33), torch.randn(33)
    out = poisoned((33,), torch.float32)
    axpy(x, out=out, y=y, backend=backend)
    assert_close(out, 2 * x.double() + y.double(), "f32")


def test_bad_keyword_arguments_are_errors():
    x = torch.randn(4)
    raises_located(lambda: axpy(x, x, z=x), "no parameter `z`")
    raises_located(lambda: axpy(x, x, x, y=x), "two values for `y`")
    raises_located(lambda: axpy(x, out=x), "missing argument(s) y")


def test_float_for_a_tensor_points_at_its_use():
    lines = Path(HERE).read_text().splitlines()
    use = next(i for i, l in enumerate(lines, 1) if "out[i] = 2.0 * x[i] + y[i]" in l)
    text = raises_located(lambda: axpy(torch.randn(4), 2.0, torch.empty(4)),
                          "`y` is a Python float (2.0)", "uses `y` as a tensor")
    assert f"{HERE}:{use}:" in text, text
    # A tensor parameter whose shape is unpacked points at that unpacking.
    unpack = next(i for i, l in enumerate(lines, 1) if l.strip() == "M, K = a.shape")
    text = raises_located(lambda: matmul_unnamed_c(1.5, torch.randn(2, 2), torch.empty(2, 2)), "`a` is a Python float")
    assert f"{HERE}:{unpack}:" in text, text


def test_non_config_and_bad_backend_types_are_errors():
    x = torch.randn(4)
    raises_located(lambda: axpy(x, x, x, config={"BLOCK_N": 16}), "config= takes a tl.Config")
    raises_located(lambda: axpy(x, x, x, backend=["cpu"]), "backend= takes a backend name")
    with pytest.raises(LaunchError):
        axpy(x, x)


@tl.tile
def add_scalar(x, s, out):
    N, = x.shape
    for i in tl.tile(N):
        out[i] = x[i] + s


@pytest.mark.parametrize("backend", BACKENDS)
def test_scalar_values_change_between_cached_calls(backend):
    x = torch.randn(70)
    for s in (1.5, -3.25, 0.0):
        out = poisoned((70,), torch.float32)
        add_scalar(x, s, out, backend=backend)
        assert_close(out, x.double() + s, "f32")


def test_int_too_big_for_64_bits_is_an_error():
    x = torch.randn(4)
    raises_located(lambda: add_scalar(x, 2**70, torch.empty(4)), "does not fit in a 64-bit integer")


def test_complex_and_conjugate_tensors_are_rejected():
    z = torch.complex(torch.randn(8), torch.randn(8))
    raises_located(lambda: axpy(z.conj(), z, z), "argument `x` has dtype torch.complex64")


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "triton"])  # the interpreter is slow
@settings(max_examples=6)
@given(m=st.integers(1, 40), n=st.integers(1, 40), dm=st.integers(-3, 3), dn=st.integers(-3, 3))
def test_unnamed_output_shape_must_match_exactly(backend, m, n, dm, dn):
    a, b = torch.randn(m, 5), torch.randn(5, n)
    shape = (max(1, m + dm), max(1, n + dn))
    c = poisoned(shape, torch.float32)
    if shape == (m, n):
        matmul_unnamed_c(a, b, c, backend=backend)
        assert_close(c, a.double() @ b.double(), "f32", reduction_len=5)
    else:
        raises_located(lambda: matmul_unnamed_c(a, b, c, backend=backend), "c.shape[")
        assert torch.isnan(c).all()  # nothing was launched


OUT_DTYPE = tl.float32


@tl.tile
def cast_by_global(x, out):
    N, = x.shape
    for i in tl.tile(N):
        out[i] = (x[i] * 3.0).to(OUT_DTYPE).to(out.dtype)


def test_changed_global_dtype_object_is_used():
    """A global that is an object (a dtype) is watched by identity."""
    global OUT_DTYPE
    x = torch.tensor([1.0001, 2.0, 3.3333333], dtype=torch.float32)
    try:
        out = poisoned((3,), torch.float32)
        cast_by_global(x, out)
        assert torch.equal(out, x * 3.0)
        OUT_DTYPE = tl.float16
        cast_by_global(x, out)
        assert torch.equal(out, (x * 3.0).half().float())
    finally:
        OUT_DTYPE = tl.float32
