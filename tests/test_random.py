"""tl.rand / tl.randint: Philox4x32-10, bit-identical on every backend, checked against the published
Random123 known-answer vectors and an independent pure-Python implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl
from tilelang.errors import TileTypeError
from tilelang.ir.ops_random import philox4x32

from conftest import BACKENDS, poisoned

# Random123's kat_vectors for philox4x32 with 10 rounds: (counter, key, output).
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff),
     (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


def philox_py(counter, key, rounds=10):
    """Philox4x32 on Python ints, written separately from the library's numpy version."""
    mask = 0xFFFFFFFF
    c, k = list(counter), list(key)
    for r in range(rounds):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & mask, (p0 >> 32) ^ c[3] ^ k[1], p0 & mask]
        k = [(k[0] + 0x9E3779B9) & mask, (k[1] + 0xBB67AE85) & mask]
    return tuple(c)


def randint_py(seed: int, offset: int, offset_bits: int) -> int:
    s = seed & (2**64 - 1)  # sign-extended to 64 bits
    o = offset & (2**offset_bits - 1)
    return philox_py((o & 0xFFFFFFFF, o >> 32, 0, 0), (s & 0xFFFFFFFF, s >> 32))[0]


@pytest.mark.parametrize("counter, key, want", KAT)
def test_known_answers(counter, key, want):
    assert philox_py(counter, key) == want
    got = philox4x32(tuple(np.array([c], dtype=np.uint32) for c in counter),
                     tuple(np.array([k], dtype=np.uint32) for k in key))
    assert tuple(int(w[0]) for w in got) == want


@settings(max_examples=20)
@given(words=st.lists(st.integers(0, 2**32 - 1), min_size=6, max_size=6))
def test_numpy_philox_matches_python(words):
    got = philox4x32(tuple(np.uint32(w) for w in words[:4]), (np.uint32(words[4]), np.uint32(words[5])))
    assert tuple(int(w) for w in got) == philox_py(words[:4], words[4:])


@tl.tile
def random_kernel(seed, offs64, bits, uniform, bits64):
    (N,) = bits.shape
    for n in tl.tile(N):
        bits[n] = tl.randint(seed, n.index)
        uniform[n] = tl.rand(seed, n.index)
        bits64[n] = tl.randint(seed, offs64[n])


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=3)
@given(n=st.integers(1, 100), seed=st.one_of(st.integers(-2**31, 2**31 - 1), st.integers(2**31, 2**62)),
       base=st.integers(-2**62, 2**62))
def test_same_bits_everywhere(backend, n, seed, base):
    offs64 = torch.arange(n, dtype=torch.int64) * 7919 + base
    bits, bits64 = poisoned((n,), torch.uint32), poisoned((n,), torch.uint32)
    uniform = poisoned((n,), torch.float32)
    random_kernel(seed, offs64, bits, uniform, bits64, config=tl.Config(BLOCK_N=16), backend=backend)
    want = [randint_py(seed, i, 32) for i in range(n)]
    assert bits.tolist() == want
    assert bits64.tolist() == [randint_py(seed, int(o), 64) for o in offs64]
    assert uniform.tolist() == [float(np.float32((w >> 8) * 2.0 ** -24)) for w in want]
    assert float(uniform.min()) >= 0.0 and float(uniform.max()) < 1.0


@tl.tile
def uniform_kernel(seed, out):
    (N,) = out.shape
    for n in tl.tile(N):
        out[n] = tl.rand(seed, n.index)


def test_uniform_statistics():
    out = poisoned((50_000,), torch.float32)
    uniform_kernel(1234, out, backend="cpu" if "cpu" in BACKENDS else "reference")
    assert abs(float(out.mean()) - 0.5) < 0.01
    hist = torch.histc(out, bins=10, min=0.0, max=1.0)
    assert float(hist.min()) > 4500 and float(hist.max()) < 5500
    other = poisoned((50_000,), torch.float32)
    uniform_kernel(1235, other, backend="reference")
    assert not torch.equal(out, other)


@tl.tile
def float_seed(x, out):
    (N,) = out.shape
    for n in tl.tile(N):
        out[n] = tl.rand(x[n], n.index)


def test_float_seed_rejected():
    with pytest.raises(TileTypeError) as info:
        float_seed(torch.zeros(4), torch.zeros(4), backend="reference")
    assert "seed of a random number must be an integer" in str(info.value)
    assert "test_random.py" in str(info.value)


TRITON_RANDINT = '''
import triton
import triton.language as tl


@triton.jit
def triton_randint(out_ptr, seed, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(out_ptr + offs, tl.randint(seed, offs))
'''


@pytest.mark.skipif("triton" not in BACKENDS, reason="triton unavailable")
@pytest.mark.parametrize("seed", [0, 5, -7, 2**40 + 3])
def test_matches_tritons_own_randint(seed):
    """Our counter/key convention is Triton's: tl.randint in plain Triton gives the same bits."""
    from tilelang.backends.triton.loader import interpreter_mode, load_kernel

    device = "cpu" if interpreter_mode() else "cuda"
    fn, _ = load_kernel(TRITON_RANDINT, "triton_randint", "test-random-triton-randint")
    out = torch.zeros(16, dtype=torch.uint32, device=device)
    fn[(1,)](out, seed, N=16)
    assert out.cpu().tolist() == [randint_py(seed, i, 32) for i in range(16)]
