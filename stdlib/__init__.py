"""Kernels written in the tile DSL."""

from .gemm import matmul, matmul_kernel

__all__ = ["matmul", "matmul_kernel"]
