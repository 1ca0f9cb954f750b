"""Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
as 1, 2, 3", SC 2011), the same bits on every backend.

`randint(seed, offsets)` is the first 32-bit word of Philox4x32-10 applied to
counter (c0, c1, 0, 0) under key (k0, k1), where c0/c1 are the low/high 32 bits of the offset
(c1 = 0 for offsets of 32 bits or fewer: an i32 offset is taken as its 32-bit pattern) and k0/k1
the low/high 32 bits of the seed sign-extended to 64 bits. `rand(seed, offsets)` turns those bits
into an f32 uniform in [0, 1): the top 24 bits times 2**-24 (exact in f32, never 1.0).
"""

from __future__ import annotations

import numpy as np

from . import dtypes
from .ops import OpTypeError, _broadcast, declare
from .types import ValueType

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57  # round multipliers
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments (golden ratio, sqrt(3) - 1)
PHILOX_ROUNDS = 10
_M32 = np.uint64(0xFFFFFFFF)


def philox4x32(counter, key, rounds: int = PHILOX_ROUNDS):
    """Philox4x32 on numpy arrays: counter = (c0, c1, c2, c3), key = (k0, k1), all uint32-valued.

    Each round: (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2 (full 64-bit products), then
    c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0); the key grows by (W0, W1) between rounds."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & _M32 for c in counter)
    k0, k1 = (np.asarray(k, dtype=np.uint64) & _M32 for k in key)
    for r in range(rounds):
        if r:
            k0 = (k0 + np.uint64(PHILOX_W0)) & _M32
            k1 = (k1 + np.uint64(PHILOX_W1)) & _M32
        p0 = np.uint64(PHILOX_M0) * c0
        p1 = np.uint64(PHILOX_M1) * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & _M32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def counter_and_key(seed, offsets):
    """(c0, c1) from the offsets and (k0, k1) from the seed, as documented above."""
    seed, offsets = np.asarray(seed), np.asarray(offsets)
    s64 = seed.astype(np.int64).view(np.uint64) if seed.dtype.kind == "i" else seed.astype(np.uint64)
    if offsets.dtype.itemsize == 8:
        o = offsets.view(np.uint64)
        c0, c1 = o & _M32, o >> np.uint64(32)
    else:
        c0 = offsets.astype(np.int64).view(np.uint64) & _M32 if offsets.dtype.kind == "i" else offsets.astype(np.uint64)
        c1 = np.zeros_like(c0)
    return (c0, c1), (s64 & _M32, s64 >> np.uint64(32))


def randint_ref(seed, offsets):
    (c0, c1), key = counter_and_key(seed, offsets)
    c0, c1 = np.broadcast_arrays(c0, c1)
    return philox4x32((c0, c1, np.zeros_like(c0), np.zeros_like(c0)), key)[0]


def rand_ref(seed, offsets):
    bits = randint_ref(seed, offsets)
    return ((bits >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)).astype(np.float32)


def _random_rule(out):
    def rule(ts, attrs):
        for what, t in zip(("seed", "offsets"), ts):
            if not dtypes.is_int(t.dtype):
                raise OpTypeError(f"the {what} of a random number must be an integer, got {t.dtype}")
        return ValueType(out, _broadcast("rand", ts))
    return rule


declare("randint", "Philox4x32-10 random bits (u32) for seed, offsets", 2, _random_rule("u32"), randint_ref,
        kind="random", triton="_philox_randint({0}, {1})")
declare("rand", "uniform f32 in [0, 1) from randint's bits: (bits >> 8) * 2**-24", 2, _random_rule("f32"),
        rand_ref, kind="random", triton="_philox_rand({0}, {1})")
