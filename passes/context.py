"""The explicit context every pass receives (passes keep no other state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tilelang.config import Config


@dataclass(frozen=True)
class PassContext:
    config: Config = field(default_factory=Config)
    target: str = "reference"
    # Tile sizes used for loops the Config leaves unbound: one for the launch grid, one for
    # sequential loops. Backends pick these (see Backend.default_tiles).
    default_parallel_tile: int = 64
    default_sequential_tile: int = 32
    # Whether tile sizes must be powers of two (Triton's tl.arange requires it).
    pow2_tiles: bool = False
    # 32: tile positions and sizes as values are i32 (every call below 2**31 per size); 64: the
    # variant the launcher compiles for larger sizes (passes/widen_positions.py).
    index_bits: int = 32
