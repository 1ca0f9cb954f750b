"""Matrix-core fragment thread maps: which thread owns which element of a 2-D register tile when
the tile is the accumulator of AMD MFMA instructions (wave64).

A statement's thread map says which thread computes which element of its result (nodes.py:
`cyclic`, `uniform`). The maps here tile an [M, N] buffer into n x n blocks (n = 32 or 16),
hand block b (row-major) to wave b % waves, and inside a block give each lane of the wave the
elements the MFMA instruction's accumulator holds in that lane:

- `mfma32` (v_mfma_f32_32x32x8{f16,bf16_1k}): lane l, item v in 0..15 holds
  row (v // 4) * 8 + (l // 32) * 4 + v % 4, column l % 32;
- `mfma16` (v_mfma_f32_16x16x16{f16,bf16_1k}): lane l, item v in 0..3 holds
  row (l // 16) * 4 + v, column l % 16.

A thread's register slot for (block b, item v) is (b // waves) * items + v. Elementwise statements
over a buffer in a fragment map use the same map (so the accumulator never leaves the
registers); the explicit-memory interpreter checks every register access against `owners`,
and `check_bijective` proves that each map gives every element exactly one (thread, slot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WAVE = 64
FRAGMENT_MAPS = ("mfma32", "mfma16")


def is_fragment(map_: str) -> bool:
    return map_ in FRAGMENT_MAPS


@dataclass(frozen=True)
class Instruction:
    """One MFMA builtin: its operand layouts per lane (A[row][k], B[k][col], per_lane consecutive k)."""

    name: str
    builtin: str
    n: int
    k: int
    dtype: str
    per_lane: int = 4

    @property
    def operand_type(self) -> str:
        return "tl_half4" if self.dtype == "f16" else "tl_short4"

    @property
    def acc_type(self) -> str:
        return "tl_float16v" if self.n == 32 else "tl_float4v"

    def pack(self, value: str) -> str:
        return f"(_Float16)({value})" if self.dtype == "f16" else f"tl_bf16_bits({value})"

    def a_exprs(self, lane: str) -> tuple[str, str]:
        """(row in block, first k in step) of the A values a lane supplies."""
        return f"({lane} % {self.n})", f"({lane} / {self.n}) * {self.per_lane}"

    def b_exprs(self, lane: str) -> tuple[str, str]:
        return f"({lane} / {self.n}) * {self.per_lane}", f"({lane} % {self.n})"


INSTRUCTIONS = {
    ("mfma32", "f16"): Instruction("v_mfma_f32_32x32x8f16", "__builtin_amdgcn_mfma_f32_32x32x8f16", 32, 8, "f16"),
    ("mfma32", "bf16"): Instruction("v_mfma_f32_32x32x8bf16_1k", "__builtin_amdgcn_mfma_f32_32x32x8bf16_1k",
                                    32, 8, "bf16"),
    ("mfma16", "f16"): Instruction("v_mfma_f32_16x16x16f16", "__builtin_amdgcn_mfma_f32_16x16x16f16", 16, 16, "f16"),
    ("mfma16", "bf16"): Instruction("v_mfma_f32_16x16x16bf16_1k", "__builtin_amdgcn_mfma_f32_16x16x16bf16_1k",
                                    16, 16, "bf16"),
}


@dataclass(frozen=True)
class Fragment:
    map: str
    shape: tuple[int, int]
    threads: int

    @property
    def n(self) -> int:
        return 32 if self.map == "mfma32" else 16

    @property
    def block_items(self) -> int:
        return self.n * self.n // WAVE

    @property
    def blocks_n(self) -> int:
        return self.shape[1] // self.n

    @property
    def blocks(self) -> int:
        return (self.shape[0] // self.n) * self.blocks_n

    @property
    def waves(self) -> int:
        return self.threads // WAVE

    @property
    def slots(self) -> int:
        """Register slots per thread."""
        return -(-self.blocks // self.waves) * self.block_items

    def element_exprs(self, lane: str, blk: str, item: str) -> tuple[str, str]:
        """C expressions of (row, column) of the element a lane holds in `item` of block `blk`."""
        n = self.n
        br, bc = f"({blk} / {self.blocks_n}) * {n}", f"({blk} % {self.blocks_n}) * {n}"
        if n == 32:
            row = f"{br} + ({item} / 4) * 8 + ({lane} / 32) * 4 + {item} % 4"
        else:
            row = f"{br} + ({lane} / 16) * 4 + {item}"
        return row, f"{bc} + {lane} % {n}"

    def instruction(self, dtype: str) -> Instruction:
        return INSTRUCTIONS[(self.map, dtype)]

    def owners(self) -> tuple[np.ndarray, np.ndarray]:
        """(thread, slot) of every element, each shaped like the buffer (-1 where nobody: never,
        for a valid map)."""
        thread = np.full(self.shape, -1, dtype=np.int64)
        slot = np.full(self.shape, -1, dtype=np.int64)
        lane = np.arange(WAVE)[:, None]
        item = np.arange(self.block_items)[None, :]
        for blk in range(self.blocks):
            br, bc = (blk // self.blocks_n) * self.n, (blk % self.blocks_n) * self.n
            if self.n == 32:
                r = br + (item // 4) * 8 + (lane // 32) * 4 + item % 4
            else:
                r = br + (lane // 16) * 4 + item
            c = np.broadcast_to(bc + lane % self.n, r.shape)
            thread[r, c] = (blk % self.waves) * WAVE + np.broadcast_to(lane, r.shape)
            slot[r, c] = (blk // self.waves) * self.block_items + np.broadcast_to(item, r.shape)
        return thread, slot


def fits(map_: str, shape, threads: int) -> bool:
    """Whether `map_` can lay out a buffer of `shape` over `threads` threads."""
    if len(shape) != 2 or threads % WAVE or threads < WAVE:
        return False
    n = 32 if map_ == "mfma32" else 16
    return shape[0] % n == 0 and shape[1] % n == 0


def fragment(map_: str, shape, threads: int) -> Fragment:
    if not fits(map_, shape, threads):
        raise ValueError(f"thread map {map_} cannot lay out a {list(shape)} buffer over {threads} threads")
    return Fragment(map_, tuple(shape), threads)


def check_bijective(frag: Fragment) -> bool:
    """Exhaustively: every element has one owner, and no (thread, slot) holds two elements."""
    thread, slot = frag.owners()
    if (thread < 0).any():
        return False
    pairs = thread.reshape(-1) * (frag.slots + 1) + slot.reshape(-1)
    return np.unique(pairs).size == pairs.size and slot.max() < frag.slots
