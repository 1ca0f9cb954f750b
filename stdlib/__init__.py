"""Kernels written in the tile DSL."""

from .attention import flash_attention, tune_flash_attention
from .conv import conv2d
from .conv_tune import tune_conv2d
from .gemm import matmul, matmul_kernel
from .kmeans import kmeans, kmeans_assign
from .lightning import lightning_attention, lightning_kernel
from .moe import MoEInfo, grouped_matmul, moe
from .norm import layer_norm, rms_norm
from .softmax import softmax

__all__ = ["MoEInfo", "conv2d", "flash_attention", "grouped_matmul", "kmeans", "kmeans_assign", "layer_norm",
           "lightning_attention", "lightning_kernel", "matmul", "matmul_kernel", "moe", "rms_norm", "softmax",
           "tune_conv2d", "tune_flash_attention"]
