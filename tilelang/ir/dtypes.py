"""The scalar element types of the tile IR and the promotion rule between them."""

from __future__ import annotations

import numpy as np

# Canonical short names, in promotion order within each family.
DTYPES = ("bool", "i8", "i32", "i64", "u8", "u16", "u32", "u64", "f16", "bf16", "f32", "f64")
FLOATS = frozenset({"f16", "bf16", "f32", "f64"})
UNSIGNED = frozenset({"u8", "u16", "u32", "u64"})
INTS = frozenset({"i8", "i32", "i64"}) | UNSIGNED

_BITS = {"bool": 1, "i8": 8, "i32": 32, "i64": 64, "u8": 8, "u16": 16, "u32": 32, "u64": 64,
         "f16": 16, "bf16": 16, "f32": 32, "f64": 64}

# numpy storage used by the reference interpreter; bf16 is stored in float32 and rounded.
NUMPY_STORAGE = {
    "bool": np.bool_, "i8": np.int8, "i32": np.int32, "i64": np.int64,
    "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64,
    "f16": np.float16, "bf16": np.float32, "f32": np.float32, "f64": np.float64,
}

_TORCH_NAMES = {
    "bool": "bool", "int8": "i8", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64",
}
_ALIASES = {
    **_TORCH_NAMES,
    "float": "f32", "int": "i32", "half": "f16", "double": "f64", "fp16": "f16", "fp32": "f32",
    "fp64": "f64", "i1": "bool",
}


def is_float(dt: str) -> bool:
    return dt in FLOATS


def is_int(dt: str) -> bool:
    """Signed or unsigned integer (not bool)."""
    return dt in INTS


def is_unsigned(dt: str) -> bool:
    return dt in UNSIGNED


def int_range(dt: str) -> tuple[int, int]:
    """The smallest and largest value of an integer dtype."""
    n = _BITS[dt]
    return (0, (1 << n) - 1) if dt in UNSIGNED else (-(1 << (n - 1)), (1 << (n - 1)) - 1)


def bits(dt: str) -> int:
    return _BITS[dt]


def storage_bytes(dt: str) -> int:
    """Bytes per element in memory (a bool takes a byte, as in torch and numpy)."""
    return max(1, _BITS[dt] // 8)


def normalize(name: str) -> str | None:
    """Map 'float16', 'torch.float16', 'f16', ... to the canonical name, or None if unknown."""
    name = str(name).removeprefix("torch.")
    if name in DTYPES:
        return name
    return _ALIASES.get(name)


def from_torch(torch_dtype) -> str | None:
    return _TORCH_NAMES.get(str(torch_dtype).removeprefix("torch."))


def to_torch(dt: str):
    import torch

    return {
        "bool": torch.bool, "i8": torch.int8, "i32": torch.int32, "i64": torch.int64,
        "u8": torch.uint8, "u16": torch.uint16, "u32": torch.uint32, "u64": torch.uint64,
        "f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32, "f64": torch.float64,
    }[dt]


def promote(a: str, b: str) -> str:
    """The common dtype of a binary op: bool < ints < floats; f16 with bf16 meets at f32.

    Integers follow C (and Triton): the wider type wins; a signed and an unsigned type meet at the
    signed one only if it is strictly wider, otherwise at the unsigned type of the larger width
    (u32 with i32 gives u32, u8 with i32 gives i32, u32 with i64 gives i64)."""
    if a == b:
        return a
    if {a, b} == {"f16", "bf16"}:
        return "f32"
    fa, fb = is_float(a), is_float(b)
    if fa != fb:
        return a if fa else b
    if "bool" in (a, b):
        return b if a == "bool" else a
    if not fa and is_unsigned(a) != is_unsigned(b):
        s, u = (b, a) if is_unsigned(a) else (a, b)
        if _BITS[s] > _BITS[u]:
            return s
        return "u" + str(max(_BITS[s], _BITS[u]))
    if not fa:
        return a if _BITS[a] > _BITS[b] else b
    return a if DTYPES.index(a) > DTYPES.index(b) else b
