"""Kernels written in the tile DSL."""

from .conv import conv2d
from .gemm import matmul, matmul_kernel
from .moe import MoEInfo, grouped_matmul, moe

__all__ = ["MoEInfo", "conv2d", "grouped_matmul", "matmul", "matmul_kernel", "moe"]
