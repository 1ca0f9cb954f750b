"""The kmeans / softmax / norm / GEMM-epilogue stdlib kernels through every pass: each step's IR
prints, parses back equal (locations included) and the soundness step accepts the kernel."""

from __future__ import annotations

import importlib

import pytest
from tilelang.frontend.lower import ArgSpec
from tilelang.passes import PassContext, run_pipeline

import tilelang as tl
from tilelang.ir import nodes as ir
from tilelang.ir.parser import parse
from tilelang.ir.printer import print_kernel

# `tilelang.stdlib.kmeans` / `.softmax` as attributes are the functions: load the modules by name
gemm, kmeans, norm, softmax = (importlib.import_module(f"tilelang.stdlib.{m}")
                               for m in ("gemm", "kmeans", "norm", "softmax"))


def t(dt, rank):
    return ArgSpec("tensor", dt, rank)


def const(v):
    return ArgSpec("const", type(v).__name__, 0, v)


KERNELS = [
    (kmeans.column_mean_kernel, {"x": t("bf16", 2), "mean": t("f32", 1)}, None),
    (kmeans.prepare_centroids_kernel, {"centroids": t("f32", 2), "shift": t("f32", 1),
                                       "centroids_t": t("f32", 2), "cnorm": t("f32", 1)}, {"D": 24}),
    (kmeans.kmeans_assign_kernel, {"x": t("f16", 2), "shift": t("f32", 1), "centroids_t": t("f32", 2),
                                   "cnorm": t("f32", 1), "assign": t("i64", 1), "min_dist": t("f32", 1)}, {"D": 24}),
    (kmeans.kmeans_accumulate_kernel, {"x": t("f32", 2), "assign": t("i64", 1), "sums": t("f64", 2),
                                       "counts": t("i32", 1)}, {"D": 24}),
    (kmeans.kmeans_update_kernel, {"sums": t("f64", 2), "counts": t("i32", 1), "shift": t("f32", 1),
                                   "centroids": t("f32", 2), "centroids_t": t("f32", 2), "cnorm": t("f32", 1)},
     {"D": 24}),
    (kmeans.min_sq_dist_kernel, {"x": t("f32", 2), "center": t("f32", 1), "min_dist": t("f32", 1)}, {"D": 24}),
    (softmax.softmax_kernel, {"x": t("bf16", 2), "out": t("bf16", 2)}, None),
    (softmax.softmax_rows_kernel, {"x": t("f16", 2), "out": t("f16", 2)}, {"N": 40}),
    (norm.layer_norm_rows_kernel, {"x": t("f32", 2), "weight": t("f16", 1), "bias": t("f32", 1), "out": t("f32", 2),
                                   "eps": ArgSpec("scalar", "f32")}, {"N": 40}),
    (norm.rms_norm_rows_kernel, {"x": t("bf16", 2), "weight": t("f32", 1), "out": t("bf16", 2),
                                 "eps": ArgSpec("scalar", "f32")}, {"N": 40}),
    (norm.layer_norm_kernel, {"x": t("f16", 2), "weight": t("f32", 1), "bias": t("f32", 1), "out": t("f16", 2),
                              "eps": ArgSpec("scalar", "f32")}, None),
    (norm.rms_norm_kernel, {"x": t("f32", 2), "weight": t("f32", 1), "out": t("f32", 2),
                            "eps": ArgSpec("scalar", "f32")}, None),
] + [
    (gemm.matmul_epilogue_kernel, {"a": t("f16", 2), "b": t("f16", 2), "bias": t("f16", 1), "c": t("f16", 2),
                                   "has_bias": const(has_bias), "activation": const(code)}, None)
    for has_bias, code in [(True, 0), (False, 1), (True, 2), (True, 3)]
]


@pytest.mark.parametrize("kernel,sig,fixed", KERNELS,
                         ids=[f"{k.name}-{i}" for i, (k, _, _) in enumerate(KERNELS)])
def test_round_trip_every_pass(kernel, sig, fixed):
    steps = []
    run_pipeline(kernel.lower(sig, fixed), PassContext(config=tl.Config(), pow2_tiles=True),
                 lambda name, k: steps.append(k))
    assert steps
    for k in steps:
        text = print_kernel(k)
        back = parse(text)
        assert back == k, text
        assert print_kernel(back) == text
        assert [s.loc for s in ir.walk(back.body)] == [s.loc for s in ir.walk(k.body)]


# Triton's CPU interpreter accepts things its GPU compiler rejects: compile the Triton source of
# every kernel above to a real sm_90 cubin (no GPU needed), at GPU-sized tiles.
GPU_TILES = {"kmeans_assign_kernel": {"BLOCK_P": 128, "BLOCK_C": 64}, "matmul_epilogue_kernel":
             {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32}, "softmax_kernel": {"BLOCK_M": 4, "BLOCK_N": 512}}


GPU_CASES = [(k, sig, fixed) for k, sig, fixed in KERNELS  # of the epilogues, the gelu one with a bias
             if k.name != "matmul_epilogue_kernel" or (sig["has_bias"].value, sig["activation"].value) == (True, 2)]


@pytest.mark.slow
@pytest.mark.parametrize("kernel,sig,fixed", GPU_CASES,
                         ids=[f"{k.name}-{i}" for i, (k, _, _) in enumerate(GPU_CASES)])
def test_compiles_for_sm90(tmp_path, kernel, sig, fixed):
    from tilelang import backend as backends

    be = backends.get("triton")
    final = run_pipeline(kernel.lower(sig, fixed), PassContext(config=tl.Config(GPU_TILES.get(kernel.name, {})),
                                                                target="triton", pow2_tiles=True))
    info = be.write_aot(final, "triton-cuda:sm_90", tmp_path, "test")
    binary = tmp_path / info["files"][1]
    assert binary.exists() and binary.stat().st_size > 0
