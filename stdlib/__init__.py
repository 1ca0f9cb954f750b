"""Kernels written in the tile DSL."""

from .conv import conv2d
from .gemm import matmul, matmul_kernel
from .kmeans import kmeans, kmeans_assign
from .moe import MoEInfo, grouped_matmul, moe
from .norm import layer_norm, rms_norm
from .softmax import softmax

__all__ = ["MoEInfo", "conv2d", "grouped_matmul", "kmeans", "kmeans_assign", "layer_norm", "matmul", "matmul_kernel",
           "moe", "rms_norm", "softmax"]
