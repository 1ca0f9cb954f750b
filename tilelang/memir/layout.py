"""Shared-memory layouts: where a buffer's logical element lives in shared memory, and the proofs
the swizzle pass records.

A 2-D shared buffer [R, C] may carry an XOR swizzle (q, p) or (q, p, u): element (r, c) lives
in slot r * C + (c ^ (u * ((r // q) % p))) (u = 1 when left out). With u * p a power of two
dividing C, the XOR permutes aligned groups of u-element chunks, so the layout is a bijection;
`prove_bijective` checks that exhaustively over the whole buffer rather than trusting the
argument. u = 8 moves whole 16-byte rows of 2-byte elements, which ldmatrix needs contiguous.

Bank model (NVIDIA since Maxwell, and AMD LDS alike): 32 banks of 4-byte words; the lanes of one
warp instruction conflict when they touch different words of one bank (the same word is a
broadcast). A slot of an element of `nbytes` bytes lies in word slot * nbytes // 4 (f16/bf16:
two elements a word; 8-byte elements are counted by their first word).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANKS = 32
WARP = 32


def physical(shape: tuple[int, ...], swizzle, flat_ids: np.ndarray) -> np.ndarray:
    """Word addresses of logical (row-major flat) element ids."""
    flat_ids = np.asarray(flat_ids, dtype=np.int64)
    if swizzle is None:
        return flat_ids
    q, p, u = swizzle if len(swizzle) == 3 else (*swizzle, 1)
    cols = shape[1]
    r, c = flat_ids // cols, flat_ids % cols
    return r * cols + (c ^ (u * ((r // q) % p)))


ELEMENT_BYTES = {"bool": 1, "i8": 1, "f16": 2, "bf16": 2}


def bank_words(slots: np.ndarray, dtype: str) -> np.ndarray:
    """The 4-byte words (bank = word % 32) that element slots of `dtype` lie in."""
    nbytes = ELEMENT_BYTES.get(dtype, 4)
    return (np.asarray(slots) * nbytes) // 4


def ldmatrix_pattern(shape) -> np.ndarray:
    """Element ids an ldmatrix reads, one phase (8 rows of 16 bytes: 32 words) per row of the
    result, for every aligned 8x8 block of a [R, C] 2-byte buffer: each phase's lanes are the
    first elements of the 4 words of each of its 8 rows."""
    R, C = shape
    r0, c0 = np.meshgrid(np.arange(0, R, 8), np.arange(0, C, 8), indexing="ij")
    dr, w = np.meshgrid(np.arange(8), np.arange(0, 8, 2), indexing="ij")
    ids = (r0.reshape(-1, 1, 1) + dr) * C + c0.reshape(-1, 1, 1) + w
    return ids.reshape(-1, 32)


def prove_bijective(shape, swizzle) -> bool:
    """Exhaustively: every word of the buffer holds exactly one element."""
    n = int(np.prod(shape)) if shape else 1
    words = physical(shape, swizzle, np.arange(n))
    return bool(words.min() >= 0 and words.max() < n and np.unique(words).size == n)


def conflict_degrees(words: np.ndarray) -> np.ndarray:
    """Per warp instruction (rows of `words`, one column per lane): the largest number of distinct
    words any one bank must serve (1 = conflict-free)."""
    words = np.sort(words, axis=1)
    first = np.ones_like(words, dtype=bool)
    first[:, 1:] = words[:, 1:] != words[:, :-1]
    counts = np.zeros((words.shape[0], BANKS), dtype=np.int64)
    rows = np.broadcast_to(np.arange(words.shape[0])[:, None], words.shape)
    np.add.at(counts, (rows[first], (words % BANKS)[first]), 1)
    return counts.max(axis=1)


@dataclass(frozen=True)
class PatternProof:
    """One access pattern of a buffer (a statement's reads or writes) and its worst conflict degree
    over every warp instruction it issues, under the identity layout and under the chosen one."""

    statement: str
    access: str  # 'write' | 'read'
    instructions: int
    worst_identity: int
    worst_chosen: int


@dataclass(frozen=True)
class LayoutProof:
    buffer: str
    shape: tuple[int, ...]
    swizzle: tuple[int, int] | None
    bijective: bool
    patterns: tuple[PatternProof, ...]

    @property
    def conflict_free(self) -> bool:
        return all(p.worst_chosen == 1 for p in self.patterns)

    def to_dict(self) -> dict:
        return {"buffer": self.buffer, "shape": list(self.shape),
                "swizzle": None if self.swizzle is None else {"row_div": self.swizzle[0], "xor_mod": self.swizzle[1],
                                                              "unit": self.swizzle[2] if len(self.swizzle) == 3 else 1},
                "bijective": self.bijective, "conflict_free": self.conflict_free,
                "patterns": [p.__dict__ for p in self.patterns]}
