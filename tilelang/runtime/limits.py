"""Launch-time limits of 32-bit tile positions.

Tile positions and sizes as values (`m.index`, `m.start`, `m.id`, `M` used in arithmetic) are i32
in the IR. Addresses are 64-bit on every backend (cpu always, triton when a tensor is large), so a
kernel that only indexes tensors works at any size; one that computes with those i32 values would
wrap once a size reaches 2**31, so such a call runs a variant compiled with i64 positions
(passes/widen_positions.py, chosen by runtime/launch.py's Runner), and where no such variant can
be built (ahead-of-time libraries, built with 32-bit positions) it is refused here (docs/safety.md).
"""

from __future__ import annotations

from tilelang.errors import LaunchError
from tilelang.ir import nodes as ir

INT32_OPS = ("tile_index", "tile_start", "tile_id", "size")
INT32_MAX = 2**31 - 1


def uses_int32_positions(kernel: ir.Kernel) -> bool:
    return any(isinstance(s, ir.Assign) and isinstance(s.value, ir.Op) and s.value.name in INT32_OPS
               and s.type.dtype == "i32"
               for s in ir.walk(kernel.body))


def needs_wide_positions(kernel: ir.Kernel, sizes: dict[str, int]) -> bool:
    """Whether this call's sizes need the i64-position variant of `kernel`."""
    return any(v > INT32_MAX for v in sizes.values()) and uses_int32_positions(kernel)


def check_index_width(kernel: ir.Kernel, sizes: dict[str, int], loc) -> None:
    big = {k: v for k, v in sizes.items() if v > INT32_MAX}
    if big and uses_int32_positions(kernel):
        listing = ", ".join(f"{k} = {v}" for k, v in sorted(big.items()))
        raise LaunchError(f"kernel `{kernel.name}` computes with tile positions or sizes (m.index, m.start, "
                          f"m.id or a size as a value), which are 32-bit, but {listing} is 2**31 or more; "
                          "split the tensor into parts below 2**31 elements along that dimension", loc)
