"""Tests for tilelang.passes.winograd: exact Toom-Cook construction, verification,
conditioning, ES point search vs exhaustive baseline, cache and CLI."""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from fractions import Fraction

import numpy as np
import pytest
import sympy
from scipy.signal import correlate2d

import tilelang.passes.winograd as W
from tilelang.passes.winograd import cache as wcache
from tilelang.passes.winograd import cli as wcli
from tilelang.passes.winograd import search as wsearch


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    # one cache directory for the whole module (so the CLI table reuses searches),
    # never the user's real ~/.cache
    d = tmp_path_factory.getbasetemp() / "winograd-cache"
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(d))
    return d


@functools.lru_cache(maxsize=None)
def _searched(m, r, objective):
    return W.search_points(m, r, objective=objective, seed=0)


@functools.lru_cache(maxsize=None)
def _exhaustive(m, r, objective):
    return W.exhaustive_points(m, r, objective=objective)


def _report_sets(m, r=3):
    sets = {"integer": W.integer_points(m, r), "classic": W.classic_points(m, r),
            "best cond": _searched(m, r, "cond").points}
    if m <= 6:
        sets["best fp16"] = _searched(m, r, "fp16").points
    return sets


# ---------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------

def test_baseline_point_sets():
    assert W.integer_points(4, 3) == tuple(Fraction(x) for x in (0, 1, -1, 2, -2))
    assert [W.format_point(p) for p in W.classic_points(6, 3)] == \
        ["0", "1/2", "-1/2", "1", "-1", "2", "-2"]
    # even number of finite points: 0, pairs, one extra point
    assert W.integer_points(3, 3) == tuple(Fraction(x) for x in (0, 1, -1, 2))
    assert W.layout(3, 3) == W.pointsets.Layout(1, True, True)
    assert W.integer_points(1, 1) == ()


def test_build_transform_shapes_and_numpy():
    t = W.build_transform(6, 3, W.classic_points(6, 3))
    assert t.alpha == 8
    assert t.AT.shape == (6, 8) and t.G.shape == (8, 3) and t.BT.shape == (8, 8)
    assert all(isinstance(p, sympy.Rational) for p in t.points)
    AT, G, BT = t.as_numpy(np.float32)
    assert AT.dtype == G.dtype == BT.dtype == np.float32
    assert AT.shape == (6, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.m = 3  # frozen


@pytest.mark.parametrize("m,r", [(1, 1), (2, 2), (2, 3), (3, 2), (4, 3), (3, 3), (6, 3),
                                 (5, 3), (8, 3), (2, 5), (4, 5), (1, 4)])
def test_build_transform_matches_numpy_correlation(m, r):
    rng = np.random.default_rng(1000 * m + r)
    for pts in (W.integer_points(m, r), W.classic_points(m, r)):
        t = W.build_transform(m, r, pts)
        AT, G, BT = t.as_numpy(np.float64)
        for _ in range(5):
            d = rng.standard_normal(m + r - 1)
            g = rng.standard_normal(r)
            want = np.correlate(d, g, mode="valid")
            got = AT @ ((G @ g) * (BT @ d))
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
            D = rng.standard_normal((m + r - 1, m + r - 1))
            Gg = rng.standard_normal((r, r))
            want2 = correlate2d(D, Gg, mode="valid")
            got2 = AT @ ((G @ Gg @ G.T) * (BT @ D @ BT.T)) @ AT.T
            np.testing.assert_allclose(got2, want2, rtol=1e-8, atol=1e-8 * np.abs(want2).max())


def test_build_transform_unbalanced_is_classic_wincnn_form():
    t = W.build_transform(2, 3, [0, 1, -1], balance=False)
    assert t.BT == sympy.ImmutableMatrix([[-1, 0, 1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]])
    assert W.verify(t)


@pytest.mark.parametrize("bad,msg", [
    ([0, 1], "needs exactly 3"),
    ([0, 1, -1, 2], "needs exactly 3"),
    ([0, 1, 1], "duplicate"),
    ([0, "1/2", 0.5], "duplicate"),
    ([0, 1, float("inf")], "infinity is implicit"),
    ([0, 1, "x"], "cannot parse"),
    ([0, 1, sympy.sqrt(2)], "rational"),
])
def test_build_transform_rejects_bad_points(bad, msg):
    with pytest.raises(ValueError, match=msg):
        W.build_transform(2, 3, bad)


def test_build_transform_rejects_bad_sizes():
    with pytest.raises(ValueError):
        W.build_transform(0, 3, [])
    with pytest.raises(ValueError):
        W.build_transform(2, 0, [])


# ---------------------------------------------------------------------------
# exact verification
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("m", [2, 4, 6, 8])
def test_verification_accepts_every_report_set(m):
    for name, pts in _report_sets(m).items():
        t = W.build_transform(m, 3, pts)
        assert W.verify_1d(t), (m, name)
        assert W.verify_2d(t), (m, name)
        if m == 2:  # the fully symbolic 2D check is slow beyond F(2,3); F(4,3): see below
            assert W.verify_2d_symbolic(t), (m, name)


def _perturb(t, field, i, j, delta=sympy.Rational(1, 7)):
    M = sympy.Matrix(getattr(t, field))
    M[i, j] += delta
    return dataclasses.replace(t, **{field: sympy.ImmutableMatrix(M)})


@pytest.mark.parametrize("m", [2, 4])
def test_verification_rejects_every_single_entry_perturbation(m):
    t = W.build_transform(m, 3, W.classic_points(m, 3))
    for field in ("AT", "G", "BT"):
        M = getattr(t, field)
        for i in range(M.rows):
            for j in range(M.cols):
                bad = _perturb(t, field, i, j)
                assert not W.verify_2d(bad), (field, i, j)
                assert not W.verify_1d(bad), (field, i, j)


@pytest.mark.parametrize("m", [6, 8])
def test_verification_rejects_perturbed_large(m):
    t = W.build_transform(m, 3, _searched(m, 3, "cond").points)
    for field, i, j in (("AT", m - 1, 3), ("G", 2, 1), ("BT", 0, 0), ("BT", m + 1, m + 1)):
        bad = _perturb(t, field, i, j, delta=sympy.Rational(1, 10 ** 9))
        assert not W.verify_1d(bad)
        assert not W.verify_2d(bad)


def test_symbolic_2d_rejects_perturbation_and_bad_shapes():
    t = W.build_transform(2, 3, [0, 1, -1])
    assert not W.verify_2d_symbolic(_perturb(t, "G", 1, 1))
    short = dataclasses.replace(t, AT=sympy.ImmutableMatrix(t.AT[:, :3]))
    assert not W.verify_1d(short) and not W.verify_2d(short) and not W.verify_2d_symbolic(short)


def test_negated_AT_is_a_valid_2d_but_not_1d_transform():
    # (-AT) M (-AT)^T == AT M AT^T: the 2D identity only fixes AT up to sign.
    t = W.build_transform(4, 3, W.integer_points(4, 3))
    neg = dataclasses.replace(t, AT=-t.AT)
    assert not W.verify_1d(neg)
    assert W.verify_2d(neg) and W.verify_2d_symbolic(neg)


# ---------------------------------------------------------------------------
# conditioning and float16 error
# ---------------------------------------------------------------------------

def test_condition_numbers_and_fp16_errors():
    t = W.build_transform(6, 3, W.integer_points(6, 3))
    c = W.condition_numbers(t)
    assert set(c) == {"vandermonde", "vandermonde_2d", "AT", "G", "BT"}
    V = np.vander(np.array([float(p) for p in t.points]), increasing=True)
    assert c["vandermonde"] == pytest.approx(np.linalg.cond(V), rel=1e-12)
    assert c["vandermonde_2d"] == pytest.approx(c["vandermonde"] ** 2, rel=1e-12)
    assert c["AT"] >= 1 and c["G"] >= 1 and c["BT"] >= 1
    e = W.fp16_errors(t, seed=0)
    assert e == W.fp16_errors(t, seed=0)  # deterministic
    assert set(e) == {"err_1d", "err_2d"}
    small = W.fp16_errors(W.build_transform(2, 3, [0, 1, -1]))
    assert 1e-5 < small["err_1d"] < 2e-3 and 1e-5 < small["err_2d"] < 2e-3
    # the classic fractions beat the integer points in float16 for F(6,3)
    classic = W.fp16_errors(W.build_transform(6, 3, W.classic_points(6, 3)))
    assert classic["err_2d"] < e["err_2d"] / 10


# ---------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("m", [4, 6])
def test_search_matches_or_beats_exhaustive_on_cond(m):
    res = _searched(m, 3, "cond")
    ex = _exhaustive(m, 3, "cond")
    assert res.seconds < 60
    assert W.verify(res.transform) and W.verify(ex.transform)
    assert res.value <= ex.value * (1 + 1e-9)
    assert res.value == pytest.approx(W.condition_numbers(res.transform)["vandermonde"])
    integer = W.condition_numbers(W.build_transform(m, 3, W.integer_points(m, 3)))
    assert res.value < integer["vandermonde"]
    assert ex.evaluations == {4: 903, 6: 12341}[m]  # C(43, 2), C(43, 3) candidates


def test_search_matches_exhaustive_on_fp16_f43():
    res = _searched(4, 3, "fp16")
    ex = _exhaustive(4, 3, "fp16")
    assert res.value <= ex.value * (1 + 1e-9)
    assert res.value == pytest.approx(W.fp16_errors(res.transform)["err_2d"])


def test_search_respects_bounds_and_symmetry():
    res = W.search_points(6, 3, seed=5, max_num=3, max_den=2)
    pts = res.points
    assert all(abs(p.p) <= 3 and p.q <= 2 for p in pts)
    assert pts[0] == 0 and all(pts[i] == -pts[i + 1] for i in range(1, len(pts), 2))
    assert res.value <= W.exhaustive_points(6, 3, max_num=3, max_den=2).value * (1 + 1e-9)


def test_search_even_layout_has_extra_point():
    res = W.search_points(3, 3, seed=0)
    pts = res.points
    assert len(pts) == 4 and pts[0] == 0 and pts[1] == -pts[2]
    assert abs(pts[3]) not in (0, abs(pts[1]))
    assert W.verify(res.transform)
    assert res.value <= _exhaustive(3, 3, "cond").value * (1 + 1e-9)


def test_search_is_deterministic_per_seed():
    a = W.search_points(6, 3, seed=7)
    b = W.search_points(6, 3, seed=7)
    assert a.points == b.points and a.history == b.history and a.value == b.value
    c = W.search_points(6, 3, objective="fp16", seed=3, generations=30)
    d = W.search_points(6, 3, objective="fp16", seed=3, generations=30)
    assert c.points == d.points and c.history == d.history


def test_search_progress_callback():
    calls = []
    W.search_points(4, 3, seed=1, generations=10, progress=lambda g, v: calls.append((g, v)))
    gens = [g for g, _ in calls]
    assert gens == list(range(len(gens))) and len(gens) == 11  # 10 ES generations + polish
    vals = [v for _, v in calls]
    assert all(b <= a for a, b in zip(vals, vals[1:]))


def test_search_bad_arguments():
    with pytest.raises(ValueError, match="objective"):
        W.search_points(4, 3, objective="speed")
    with pytest.raises(ValueError, match="distinct"):
        W.search_points(6, 3, max_num=1, max_den=1)
    with pytest.raises(ValueError, match="generations"):
        W.search_points(4, 3, generations=0)
    with pytest.raises(ValueError, match="bounds"):
        W.search_points(4, 3, max_num=0)


def test_search_refuses_to_return_unverified(monkeypatch):
    monkeypatch.setattr(wsearch, "verify_2d", lambda t: False)
    with pytest.raises(RuntimeError, match="verification failed"):
        W.search_points(2, 3, generations=2)


# ---------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------

def test_cache_hit_corrupt_and_tampered(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path))
    first = W.cached_search(4, 3, "cond", seed=2)
    path = W.cache_path(4, 3, "cond", seed=2)
    assert path.parent == tmp_path / "winograd" and path.exists()
    assert not first.from_cache
    assert os.listdir(path.parent) == [path.name]  # no temp files left behind

    real_search = wsearch.search_points

    def boom(*a, **k):
        raise AssertionError("search must not run on a cache hit")

    monkeypatch.setattr(wsearch, "search_points", boom)
    hit = W.cached_search(4, 3, "cond", seed=2)
    assert hit.from_cache and hit.points == first.points
    assert W.best_transform(4, 3, seed=2) == first.transform
    # a different seed is a different entry
    with pytest.raises(AssertionError):
        W.cached_search(4, 3, "cond", seed=3)

    good = json.loads(path.read_text())
    calls = []

    def counting(*a, **k):
        calls.append(1)
        return real_search(*a, **k)

    monkeypatch.setattr(wsearch, "search_points", counting)
    tampered = [
        "{ not json",
        "",
        json.dumps({**good, "points": ["0", "1", "1", "2", "-2"]}),          # duplicate
        json.dumps({**good, "points": ["0", "1", "-1", "2"]}),               # wrong count
        json.dumps({**good, "points": ["0", "1", "-1", "9", "-9"]}),         # outside grid
        json.dumps({**good, "value": good["value"] / 2}),                    # wrong value
        json.dumps({**good, "params": {**good["params"], "m": 6}}),          # wrong header
        json.dumps([1, 2, 3]),
    ]
    for n, text in enumerate(tampered, 1):
        path.write_text(text)
        res = W.cached_search(4, 3, "cond", seed=2)
        assert not res.from_cache and res.points == first.points and len(calls) == n
        assert json.loads(path.read_text())["points"] == good["points"]  # rewritten
    assert W.cached_search(4, 3, "cond", seed=2).from_cache


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path))

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(wcache.os, "replace", failing_replace)
    res = W.cached_search(2, 3, "cond")
    assert W.verify(res.transform)
    assert os.listdir(tmp_path / "winograd") == []  # neither entry nor temp file


def test_no_cache_neither_reads_nor_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path))
    W.cached_search(2, 3, "cond", use_cache=False)
    assert not (tmp_path / "winograd").exists()


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def test_cli_json(capsys):
    assert wcli.main(["--m", "4", "--r", "3", "--json", "--seed", "0"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("points", "condition_numbers", "fp16_errors", "verified", "seconds",
                "integer_points", "improvement_over_integer", "objective", "from_cache"):
        assert key in d
    assert d["verified"] is True and d["points"][0] == "0"
    assert d["points"] == _searched(4, 3, "cond").transform.point_strings()
    assert set(d["condition_numbers"]) == {"vandermonde", "vandermonde_2d", "AT", "G", "BT"}
    assert set(d["fp16_errors"]) == {"err_1d", "err_2d"}
    assert d["improvement_over_integer"]["vandermonde"] > 1


def test_cli_human_and_errors(capsys):
    assert wcli.main(["--m", "6", "--objective", "fp16"]) == 0
    out = capsys.readouterr().out
    for p in _searched(6, 3, "fp16").transform.point_strings():
        assert p in out
    assert "verified (exact): 1D ok, 2D ok" in out and "fp16" in out and "time:" in out
    assert wcli.main(["--r", "3"]) == 2
    assert wcli.main(["--m", "6", "--max-num", "1", "--max-den", "1"]) == 2
    with pytest.raises(SystemExit):
        wcli.main(["--m", "4", "--objective", "nope"])


def test_cli_table(capsys):
    assert wcli.main(["--table"]) == 0
    out = capsys.readouterr().out
    for size in ("F(4,3)", "F(6,3)", "F(8,3)"):
        assert out.count(f"| {size} |") == 4
    for label in ("integer", "classic", "best cond", "best fp16"):
        assert f"| {label} |" in out
    assert "| NO |" not in out
