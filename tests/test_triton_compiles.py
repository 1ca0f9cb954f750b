"""Every kernel here compiles to real GPU code (cubin for sm_90, hsaco for gfx942) with no GPU present.

Triton's CPU interpreter accepts things its compiler rejects (small dots, some dtype mixes), so the
interpreter tests alone do not prove the generated source is valid for a GPU."""

from __future__ import annotations

import pytest

import tilelang as tl
from tilelang import backend as backends
from tilelang.frontend.lower import ArgSpec
from tilelang.passes import PassContext, run_pipeline
from tilelang.stdlib import conv as conv_mod
from tilelang.stdlib import conv_winograd as wino_mod
from tilelang.stdlib import matmul_kernel

import kernels as K

t = lambda dt, r: ArgSpec("tensor", dt, r)  # noqa: E731
s = lambda dt: ArgSpec("scalar", dt)  # noqa: E731

CASES = {
    "matmul_bf16": (matmul_kernel, {"a": t("bf16", 2), "b": t("bf16", 2), "c": t("bf16", 2)}, {}),
    "matmul_f32_tf32": (matmul_kernel, {"a": t("f32", 2), "b": t("f32", 2), "c": t("f32", 2)},
                        {"BLOCK_M": 128, "BLOCK_N": 128}),
    "softmax": (K.softmax_kernel, {"x": t("f16", 2), "out": t("f16", 2)}, {"BLOCK_M": 4, "BLOCK_N": 256}),
    "elementwise": (K.elementwise_kernel, {"x": t("f32", 2), "y": t("f32", 2), "out_f": t("f32", 2),
                                           "out_b": t("bool", 2), "scale": s("f32")}, {}),
    "reductions": (K.row_reduce_kernel, {"x": t("f32", 2), "sums": t("f32", 1), "maxes": t("f32", 1),
                                         "argmins": t("i32", 1)}, {}),
    "causal": (K.causal_mask_kernel, {"s": t("f32", 2), "out": t("f32", 2)}, {}),
    "gather": (K.gather_rows_kernel, {"x": t("f16", 2), "idx": t("i32", 1), "out": t("f16", 2)}, {}),
    "int_math": (K.int_math_kernel, {n: t("i32", 1) for n in ("x", "y", "q", "r")}, {}),
    "attention": (K.attention_kernel, {n: t("f16", 3) for n in "qkvo"} | {"scale": s("f32")},
                  {"BLOCK_M": 64, "BLOCK_N": 64}, {"D": 128}),
    "kmeans": (K.kmeans_assign_kernel, {"x": t("f32", 2), "centroids": t("f32", 2), "assign": t("i32", 1)},
               {}, {"D": 48}),
    "moe": (K.moe_expert_rows_kernel, {"x": t("bf16", 2), "rows": t("i32", 1), "w": t("bf16", 2),
                                       "out": t("bf16", 2)}, {}),
    "conv_direct": (conv_mod.conv2d_direct_kernel, {"x": t("f16", 2), "w": t("f16", 3), "y": t("f16", 3)}
                    | {n: s("i32") for n in ("H", "W", "Wo", "KW", "stride", "pad")},
                    {"BLOCK_P": 128, "BLOCK_K": 64, "BLOCK_C": 32}),
    "conv_to_rows": (conv_mod.nchw_to_rows_kernel, {"x": t("f16", 3), "out": t("f16", 3)}, {"BLOCK_P": 64, "BLOCK_C": 32}),
    "wino_filter": (wino_mod.winograd_filter_kernel, {"w": t("f16", 3), "kg_t": t("f32", 2), "u": t("f16", 3)},
                    {"BLOCK_R": 16, "BLOCK_A": 16, "BLOCK_K": 64}),
    "wino_fused": (wino_mod.winograd_fused_kernel, {"x": t("f16", 2), "origin": t("i32", 2), "u": t("f16", 3),
                                                    "bt": t("f32", 1), "at": t("f32", 1), "y": t("f16", 1)}
                   | {n: s("i32") for n in ("H", "W", "Ho", "Wo", "m", "pad")}
                   | {"AP": ArgSpec("const", "int", 0, 8), "MP": ArgSpec("const", "int", 0, 4)},
                   {"BLOCK_T": 32, "BLOCK_K": 64, "BLOCK_C": 32}, {"A2": 64}),
}


@pytest.mark.slow
@pytest.mark.parametrize("target", ["triton-cuda:sm_90", "triton-hip:gfx942"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_compiles_for_gpu(tmp_path, name, target):
    kernel, sig, tiles, *fixed = CASES[name]
    be = backends.get("triton")
    final = run_pipeline(kernel.lower(sig, *fixed), PassContext(config=tl.Config(tiles), target="triton", pow2_tiles=True))
    info = be.write_aot(final, target, tmp_path, "test")
    binary = tmp_path / info["files"][1]
    data = binary.read_bytes()
    assert data[:4] == b"\x7fELF" and info["symbol"].encode() in data
