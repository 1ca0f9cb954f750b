"""The CUDA backend (built on the explicit-memory level, tilelang/memir)."""
