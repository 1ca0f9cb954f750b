"""Causal attention on the cpu backend: key loop bounded at run time (`tl.tile(0, m.start + m.size)`,
fully masked key blocks never visited) against the same kernel visiting every key block.

    python benchmarks/causal_skip.py [S]

Prints the median time of each (after a warm-up) and the ratio; checks both against torch first.
"""

from __future__ import annotations

import math
import sys
import time

import torch

import tilelang as tl

D = 64


@tl.tile
def causal_skip(q, k, v, out, scale):
    S, D = q.shape
    for m in tl.tile(S):
        qt = q[m, tl.arange(0, 64)]
        m_i = tl.full([m], float("-inf"), tl.float32)
        l_i = tl.zeros([m], tl.float32)
        acc = tl.zeros([m, 64], tl.float32)
        for n in tl.tile(0, m.start + m.size):  # key blocks past the query block are skipped
            s = (qt @ k[n, tl.arange(0, 64)].T) * scale
            s = tl.where(m.index[:, None] >= n.index[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            p = tl.exp(s - m_new[:, None])
            alpha = tl.exp(m_i - m_new)
            l_i = l_i * alpha + tl.sum(p, axis=1)
            acc = acc * alpha[:, None] + p @ v[n, tl.arange(0, 64)]
            m_i = m_new
        out[m, tl.arange(0, 64)] = acc / l_i[:, None]


@tl.tile
def causal_full(q, k, v, out, scale):
    S, D = q.shape
    for m in tl.tile(S):
        qt = q[m, tl.arange(0, 64)]
        m_i = tl.full([m], float("-inf"), tl.float32)
        l_i = tl.zeros([m], tl.float32)
        acc = tl.zeros([m, 64], tl.float32)
        for n in tl.tile(S):  # every key block, masked
            s = (qt @ k[n, tl.arange(0, 64)].T) * scale
            s = tl.where(m.index[:, None] >= n.index[None, :], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            p = tl.exp(s - m_new[:, None])
            alpha = tl.exp(m_i - m_new)
            l_i = l_i * alpha + tl.sum(p, axis=1)
            acc = acc * alpha[:, None] + p @ v[n, tl.arange(0, 64)]
            m_i = m_new
        out[m, tl.arange(0, 64)] = acc / l_i[:, None]


def median_time(fn, reps=5) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main():
    S = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(S, D, generator=g) for _ in range(3))
    scale = 1 / math.sqrt(D)
    cfg = tl.Config(BLOCK_M=64, BLOCK_N=64)
    want = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
    rows = []
    for name, kern in (("runtime bound (skips)", causal_skip), ("all key blocks", causal_full)):
        out = torch.full_like(q, float("nan"))
        kern(q, k, v, out, scale, config=cfg)
        torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
        rows.append((name, median_time(lambda: kern(q, k, v, out, scale, config=cfg))))
    print(f"causal attention, S={S}, D={D}, f32, cpu backend, BLOCK_M=BLOCK_N=64")
    for name, t in rows:
        print(f"  {name:24s} {t * 1e3:9.2f} ms")
    print(f"  speedup from skipping: {rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
