"""The names a kernel uses from `tilelang` (`tl.zeros`, `tl.exp`, `tl.float16`, ...).

Inside a `@tl.tile` kernel these are never called: the frontend recognizes them by identity and
lowers them to IR ops. Calling one from ordinary Python raises a clear error instead.
"""

from __future__ import annotations

from .errors import TileLangError
from .ir import dtypes


class DType:
    """A tile element type usable in kernels (`tl.float16`) and as a Python value."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"tl.{_LONG[self.name]}"

    def __eq__(self, other):
        return isinstance(other, DType) and other.name == self.name

    def __hash__(self):
        return hash(self.name)


_LONG = {"bool": "bool_", "i8": "int8", "i32": "int32", "i64": "int64", "u8": "uint8", "u16": "uint16",
         "u32": "uint32", "u64": "uint64", "f16": "float16", "bf16": "bfloat16",
         "f32": "float32", "f64": "float64"}

bool_ = DType("bool")
int8 = DType("i8")
int32 = DType("i32")
int64 = DType("i64")
uint8 = DType("u8")
uint16 = DType("u16")
uint32 = DType("u32")
uint64 = DType("u64")
float16 = DType("f16")
bfloat16 = DType("bf16")
float32 = DType("f32")
float64 = DType("f64")


def dtype_name(obj) -> str | None:
    """Canonical dtype name of a tl.DType, a torch.dtype or a string; None if it is none of them."""
    if isinstance(obj, DType):
        return obj.name
    if isinstance(obj, str):
        return dtypes.normalize(obj)
    if type(obj).__name__ == "dtype" and type(obj).__module__.startswith("torch"):
        return dtypes.from_torch(obj)
    return None


def _builtin(name: str, doc: str):
    def stub(*args, **kwargs):
        raise TileLangError(f"tl.{name}(...) can only be used inside a @tl.tile kernel")

    stub.__name__ = name
    stub.__qualname__ = name
    stub.__doc__ = doc
    stub.__tilelang_builtin__ = name
    return stub


zeros = _builtin("zeros", "zeros(shape, dtype=tl.float32): a tile of zeros; shape items are tiles, ints or sizes.")
full = _builtin("full", "full(shape, value, dtype=tl.float32): a tile filled with `value`.")
load = _builtin("load", "load(x[idx], other=0, mask=None): a load with a fill value for positions past the edge.")
store = _builtin("store", "store(x[idx], value, mask=None): a store restricted to `mask` (and the tensor's edge).")
where = _builtin("where", "where(cond, a, b): elementwise select.")
maximum = _builtin("maximum", "maximum(a, b): elementwise maximum.")
minimum = _builtin("minimum", "minimum(a, b): elementwise minimum.")
dot = _builtin("dot", "dot(a, b, precision='ieee'): matrix product with f32 accumulation (same as a @ b).")
trans = _builtin("trans", "trans(x): transpose of a 2-D tile (same as x.T).")
cast = _builtin("cast", "cast(x, dtype): convert (same as x.to(dtype)).")
broadcast_to = _builtin("broadcast_to", "broadcast_to(x, shape): numpy broadcasting to `shape`.")
sum = _builtin("sum", "sum(x, axis): sum along `axis` (f16/bf16 accumulate and return f32).")
max = _builtin("max", "max(x, axis): maximum along `axis`.")
min = _builtin("min", "min(x, axis): minimum along `axis`.")
argmax = _builtin("argmax", "argmax(x, axis): index (within the tile) of the first maximum along `axis`.")
argmin = _builtin("argmin", "argmin(x, axis): index (within the tile) of the first minimum along `axis`.")
exp = _builtin("exp", "exp(x)")
exp2 = _builtin("exp2", "exp2(x)")
log = _builtin("log", "log(x)")
log2 = _builtin("log2", "log2(x)")
sqrt = _builtin("sqrt", "sqrt(x)")
rsqrt = _builtin("rsqrt", "rsqrt(x) = 1/sqrt(x)")
sin = _builtin("sin", "sin(x)")
cos = _builtin("cos", "cos(x)")
sigmoid = _builtin("sigmoid", "sigmoid(x) = 1/(1+exp(-x))")
floor = _builtin("floor", "floor(x)")
ceil = _builtin("ceil", "ceil(x)")
abs = _builtin("abs", "abs(x)")
cdiv = _builtin("cdiv", "cdiv(a, b): ceiling division of sizes.")
arange = _builtin("arange", "arange(start, end): the 1-D i32 tile [start, start+1, ..., end-1]; compile-time ints.")
reshape = _builtin("reshape", "reshape(x, shape): the same elements (row-major order) in a new compile-time "
                              "shape; the element count must match (also x.reshape(shape)).")
static_range = _builtin("static_range", "static_range(stop) / static_range(start, stop[, step]): a loop "
                                        "unrolled at compile time; bounds are ints, fixed sizes or tile sizes.")
atomic_add = _builtin("atomic_add", "atomic_add(x[idx], value, mask=None): x[idx] += value as one atomic "
                      "read-modify-write per element (duplicate indices all count); returns nothing.")
atomic_max = _builtin("atomic_max", "atomic_max(x[idx], value, mask=None): x[idx] = max(x[idx], value), atomically.")
atomic_min = _builtin("atomic_min", "atomic_min(x[idx], value, mask=None): x[idx] = min(x[idx], value), atomically.")
cumsum = _builtin("cumsum", "cumsum(x, axis): inclusive prefix sum along `axis` (f16/bf16 accumulate and return f32).")
cumprod = _builtin("cumprod", "cumprod(x, axis): inclusive prefix product along `axis` (f16/bf16 in f32).")
cummax = _builtin("cummax", "cummax(x, axis): inclusive running maximum along `axis`.")
cummin = _builtin("cummin", "cummin(x, axis): inclusive running minimum along `axis`.")
sort = _builtin("sort", "sort(x, axis, descending=False): the tile sorted along `axis` (stable).")
topk = _builtin("topk", "topk(x, k, axis): (values, indices) of the k largest along `axis`, largest first.")
rand = _builtin("rand", "rand(seed, offsets): f32 uniform in [0, 1) from Philox4x32-10, one per offset.")
randint = _builtin("randint", "randint(seed, offsets): u32 random bits from Philox4x32-10, one per offset.")
