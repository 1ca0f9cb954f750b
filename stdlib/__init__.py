"""Kernels written in the tile DSL."""

from .attention import flash_attention
from .conv import conv2d
from .gemm import matmul, matmul_kernel

__all__ = ["conv2d", "flash_attention", "matmul", "matmul_kernel"]
