"""Kernels written in the tile DSL."""

from .conv import conv2d
from .gemm import matmul, matmul_kernel

__all__ = ["conv2d", "matmul", "matmul_kernel"]
