"""Kernels written in the tile DSL."""

from .conv import conv2d
from .gemm import matmul, matmul_kernel
from .lightning import lightning_attention, lightning_kernel

__all__ = ["conv2d", "lightning_attention", "lightning_kernel", "matmul", "matmul_kernel"]
