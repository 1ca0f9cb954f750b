"""tilelang: a tile DSL compiler for Python.

    import tilelang as tl

    @tl.tile
    def add(x, y, out):
        (N,) = x.shape
        for n in tl.tile(N):
            out[n] = x[n] + y[n]

Note: PyPI has an unrelated project that is also imported as `tilelang`; do not install both in
one environment.
"""

from .api import TileFunc, TileKernel, func, tile
from .config import Config
from .dsl import (abs, arange, argmax, argmin, atomic_add, atomic_max, atomic_min, bfloat16, bool_, broadcast_to,
                  cast, cdiv, ceil, cos, cummax, cummin, cumprod, cumsum, dot, exp, exp2, float16, float32, float64,
                  floor, full, int8, int32, int64, load, log, log2, max, maximum, min, minimum, rand, randint, reshape,
                  rsqrt, sigmoid, sin, sort, sqrt, static_range, store, sum, topk, trans, uint8, uint16, uint32, uint64,
                  where, zeros,
                  DType)
from .errors import TileLangError
from .version import __version__

__all__ = [
    "tile", "TileKernel", "func", "TileFunc", "static_range", "arange", "reshape", "Config", "TileLangError", "DType",
    "__version__",
    "bool_", "int8", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "bfloat16", "float32", "float64",
    "zeros", "full", "load", "store", "where", "maximum", "minimum", "dot", "trans", "cast", "broadcast_to",
    "sum", "max", "min", "argmax", "argmin", "exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos",
    "sigmoid", "floor", "ceil", "abs", "cdiv",
    "atomic_add", "atomic_max", "atomic_min", "cumsum", "cumprod", "cummax", "cummin", "sort", "topk",
    "rand", "randint",
]
