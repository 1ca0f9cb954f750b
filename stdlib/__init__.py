"""Kernels written in the tile DSL."""

from .conv import conv2d
from .conv_tune import tune_conv2d
from .gemm import matmul, matmul_kernel
from .kmeans import kmeans, kmeans_assign
from .norm import layer_norm, rms_norm
from .softmax import softmax

__all__ = ["conv2d", "kmeans", "kmeans_assign", "layer_norm", "matmul", "matmul_kernel", "rms_norm", "softmax", "tune_conv2d"]
