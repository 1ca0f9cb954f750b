"""Golden files for generated code. After an intended change to code generation, rewrite them with

    TILELANG_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and review the diff like any other change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tilelang as tl
from tilelang.backends.triton import render_source
from tilelang.frontend.lower import ArgSpec
from tilelang.ir.printer import print_kernel
from tilelang.passes import PassContext, run_pipeline
from tilelang.stdlib import matmul_kernel

from kernels import attention_kernel, softmax_kernel

GOLDEN = Path(__file__).parent / "golden"
T2 = {"f16": ArgSpec("tensor", "f16", 2), "f32": ArgSpec("tensor", "f32", 2)}
CASES = {
    "matmul_f16": (matmul_kernel, {"a": T2["f16"], "b": T2["f16"], "c": T2["f16"]}, tl.Config(), None),
    "matmul_f16_k4096": (matmul_kernel, {"a": T2["f16"], "b": T2["f16"], "c": T2["f16"]}, tl.Config(), {"K": 4096}),
    "softmax_f32": (softmax_kernel, {"x": T2["f32"], "out": T2["f32"]}, tl.Config(BLOCK_M=4, BLOCK_N=1024), None),
    "attention_f16": (attention_kernel, {n: ArgSpec("tensor", "f16", 3) for n in "qkvo"} | {"scale": ArgSpec("scalar", "f32")},
                      tl.Config(BLOCK_M=64, BLOCK_N=64), {"D": 64}),
}


def check(name: str, text: str):
    path = GOLDEN / name
    if os.environ.get("TILELANG_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with TILELANG_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file (TILELANG_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_code_matches_golden(name):
    kernel, sig, config, fixed = CASES[name]
    final = run_pipeline(kernel.lower(sig, fixed), PassContext(config=config, target="triton", pow2_tiles=True))
    check(f"{name}.triton.py", render_source(final))
    # IR text, without the absolute source paths (which depend on the checkout's location).
    check(f"{name}.tir", "\n".join(l.split(" loc(")[0] for l in print_kernel(final).splitlines()) + "\n")
