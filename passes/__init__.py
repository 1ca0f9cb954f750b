"""Passes: pure IR -> IR functions, run in the order PIPELINE names them."""

from __future__ import annotations

from tilelang.ir import nodes as ir
from tilelang.ir.verifier import verify

from .context import PassContext
from .masking import mask
from .program_order import order_programs
from .padding import mask_padding
from .soundness import check_soundness
from .tiling import tile
from .widen_positions import widen_positions

# The pipeline, one named step per pass. `tilelang ir` prints the IR after each.
PIPELINE = [
    ("tiling", tile),
    ("masking", mask),
    ("program_order", order_programs),
    # A tile's positions past its extent never count: reductions skip them, gathers and scatters
    # through values from them are masked.
    ("padding", mask_padding),
    # Only in the variant compiled for sizes of 2**31 or more: positions and sizes become i64.
    ("widen_positions", widen_positions),
    # A verifier step (returns the kernel unchanged): rejects partial reductions over grid tiles,
    # stores shared by several programs and read-modify-write races between programs.
    ("soundness", check_soundness),
]


def run_pipeline(kernel: ir.Kernel, ctx: PassContext, observe=None) -> ir.Kernel:
    """Run every pass, verifying after each; `observe(name, kernel)` sees each step's result."""
    verify(kernel)
    if observe:
        observe("frontend", kernel)
    for name, fn in PIPELINE:
        kernel = fn(kernel, ctx)
        verify(kernel)
        if observe:
            observe(name, kernel)
    return kernel


__all__ = ["PIPELINE", "PassContext", "run_pipeline"]
