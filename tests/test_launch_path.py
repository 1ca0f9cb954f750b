"""The cached call path (issue 9, item 1): a second call with the same kind of arguments runs no
sympy and compiles nothing; the cpu backend runs small launches inline and big ones on its pool."""

from __future__ import annotations

import pytest
import sympy
import torch

import tilelang as tl
from tilelang.runtime.sizecode import py_int_code, size_evaluator

from conftest import BACKENDS, assert_close, poisoned


@tl.tile(divisible_by={"K": 4})
def matmul_div(a, b, c):
    M, K = a.shape
    K, N = b.shape
    for m, n in tl.tile([M, N]):
        acc = tl.zeros([m, n], tl.float32)
        for k in tl.tile(K):
            acc += a[m, k] @ b[k, n]
        c[m, n] = acc


# The reference interpreter evaluates sizes with sympy inside its launch by design (it is the oracle).
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "reference"])
def test_cached_call_runs_no_sympy_and_compiles_nothing(backend, monkeypatch):
    # With no tuning database. (Where one exists, e.g. written by an earlier test in this process, a
    # call looks each new shape up in it once: that lookup lowers the kernel, by design for now.)
    from tilelang.autotune import hook
    monkeypatch.setattr(hook, "_db_present", lambda: False)
    a, b = torch.randn(21, 12), torch.randn(12, 9)
    c = poisoned((21, 9), torch.float32)
    matmul_div(a, b, c, backend=backend)  # compiles
    entries = dict(matmul_div._compiled)

    def no_sympy(*args, **kwargs):
        raise AssertionError("sympy ran on the cached call path")

    monkeypatch.setattr(sympy.Basic, "subs", no_sympy)
    monkeypatch.setattr(sympy, "sympify", no_sympy)
    for m, n in ((21, 9), (5, 30), (64, 1)):  # new sizes, same specialization
        a, b = torch.randn(m, 12), torch.randn(12, n)
        c = poisoned((m, n), torch.float32)
        matmul_div(a, b, c, backend=backend)
        assert_close(c, a.double() @ b.double(), "f32", reduction_len=12)
    assert matmul_div._compiled == entries
    monkeypatch.undo()
    # divisible_by is still checked on the cached path, with the full message
    with pytest.raises(tl.TileLangError, match="requires K to be a multiple of 4"):
        matmul_div(torch.randn(3, 6), torch.randn(6, 3), torch.empty(3, 3), backend=backend)


def test_specialize_returns_the_runner_a_call_uses():
    a, b, c = torch.randn(8, 8), torch.randn(8, 8), torch.empty(8, 8)
    r = matmul_div.specialize(a, b, c, backend="reference")
    assert r is matmul_div.specialize(a, b=b, c=c, backend="reference")
    assert "def run(args):" in r.source and "grid =" in r.source
    assert r.kernel.name == "matmul_div"


@pytest.mark.skipif("cpu" not in BACKENDS, reason="llvmlite is not installed")
def test_cpu_small_launch_runs_inline_and_big_launch_on_the_pool(monkeypatch):
    from tilelang.backends import cpu

    monkeypatch.setenv("TILELANG_NUM_THREADS", "2")
    used = []
    real = cpu._get_pool

    def spy(n):
        used.append(n)
        return real(n)

    monkeypatch.setattr(cpu, "_get_pool", spy)
    small_a, small_b = torch.randn(20, 16), torch.randn(16, 20)  # 6400 points
    c = poisoned((20, 20), torch.float32)
    matmul_div(small_a, small_b, c, backend="cpu", config=tl.Config(BLOCK_M=8, BLOCK_N=8))
    assert_close(c, small_a.double() @ small_b.double(), "f32", reduction_len=16)
    assert used == []
    big_a, big_b = torch.randn(130, 64), torch.randn(64, 70)  # 582400 points
    c = poisoned((130, 70), torch.float32)
    matmul_div(big_a, big_b, c, backend="cpu", config=tl.Config(BLOCK_M=8, BLOCK_N=8))
    assert_close(c, big_a.double() @ big_b.double(), "f32", reduction_len=64)
    assert used == [2]


def test_size_code_matches_sympy():
    N, K = sympy.symbols("N K", integer=True, positive=True)
    exprs = [sympy.ceiling(N / 64), sympy.ceiling(N / 64) * sympy.ceiling(K / 3), sympy.floor((N + K) / 7),
             sympy.Mod(N, 5) + 2 * K, sympy.Max(N, K), N ** 2]
    fn = size_evaluator(exprs)
    for n, k in ((1, 1), (63, 64), (64, 65), (1000, 7), (2**40 + 3, 5)):
        want = [int(e.subs({N: n, K: k})) for e in exprs]
        assert fn({"N": n, "K": k}) == want
    assert py_int_code(sympy.Integer(7), str) == "7"


@tl.tile
def row_sums(x, out):
    M, N = x.shape
    for m in tl.tile(M):
        out[m] = tl.sum(x[m, :], axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_whole_dimension_kernels_dispatch_on_the_size(backend):
    """`x[m, :]` compiles per value of N: one call key, one Runner per N, each N right every time."""
    row_sums._compiled.clear()
    for m, n in ((7, 5), (3, 9), (12, 5), (1, 9)):
        x = torch.randn(m, n)
        out = poisoned((m,), torch.float32)
        row_sums(x, out, backend=backend)
        assert_close(out, x.double().sum(dim=1), "f32", reduction_len=n)
    (dispatch,) = [v for k, v in row_sums._compiled.items() if k[0] == "call"]
    assert sorted(dispatch.runners) == [(5,), (9,)]
    assert row_sums.specialize(torch.randn(2, 9), torch.empty(2), backend=backend) is dispatch.runners[(9,)]
