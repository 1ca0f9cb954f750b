"""The programming model carries the kernels the stdlib needs next: attention (online softmax),
k-means (online argmin) and MoE (gathered rows), on every backend here, against torch in float64."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilelang as tl

from conftest import BACKENDS, TORCH_DTYPES, assert_close, poisoned
from kernels import attention_kernel, kmeans_assign_kernel, moe_expert_rows_kernel



@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "f16"])
@settings(max_examples=4)
@given(BH=st.integers(1, 3), M=st.integers(1, 40), D=st.sampled_from([8, 16, 24, 80]), seed=st.integers(0, 1000))
def test_causal_attention(backend, dtype, BH, M, D, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(BH, M, D, generator=g).to(TORCH_DTYPES[dtype]) for _ in range(3))
    o = poisoned((BH, M, D), TORCH_DTYPES[dtype])
    scale = 1.0 / math.sqrt(D)
    attention_kernel(q, k, v, o, scale, config=tl.Config(BLOCK_M=16, BLOCK_N=16), backend=backend)
    s = (q.double() @ k.double().transpose(1, 2)) * scale
    s = s.masked_fill(torch.triu(torch.ones(M, M, dtype=torch.bool), 1), float("-inf"))
    expected = torch.softmax(s, dim=-1) @ v.double()
    # p is rounded to the input dtype before p @ v, as flash attention does: each output is a
    # p-weighted mean of v (weights sum to 1), so that rounding adds up to 2^-11 * max|v| per output;
    # 512 units of the f16 atol (2e-6 each) cover twice that.
    assert_close(o, expected, dtype, reduction_len=M if dtype == "f32" else max(4 * M, 512))


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=5)
@given(P=st.integers(1, 60), C=st.integers(1, 40), D=st.sampled_from([3, 16, 70]), seed=st.integers(0, 1000))
def test_kmeans_assignment(backend, P, C, D, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(P, D, generator=g)
    cen = torch.randn(C, D, generator=g)
    assign = poisoned((P,), torch.int32)
    kmeans_assign_kernel(x, cen, assign, config=tl.Config(BLOCK_P=16, BLOCK_C=16), backend=backend)
    dist = torch.cdist(x.double(), cen.double())
    chosen = dist.gather(1, assign.long()[:, None])[:, 0]
    # Ties at float precision may pick another centroid; its distance must then be the minimum.
    assert torch.allclose(chosen, dist.min(dim=1).values, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["f32", "bf16"])
@settings(max_examples=4)
@given(T=st.integers(1, 50), R=st.integers(1, 40), K=st.integers(1, 40), N=st.integers(1, 40),
       seed=st.integers(0, 1000))
def test_moe_gathered_rows(backend, dtype, T, R, K, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, K, generator=g).to(TORCH_DTYPES[dtype])
    w = torch.randn(K, N, generator=g).to(TORCH_DTYPES[dtype])
    rows = torch.randint(0, T, (R,), generator=g, dtype=torch.int32)
    out = poisoned((R, N), TORCH_DTYPES[dtype])
    moe_expert_rows_kernel(x, rows, w, out, config=tl.Config(BLOCK_R=16, BLOCK_N=16, BLOCK_K=16), backend=backend)
    assert_close(out, x.double()[rows.long()] @ w.double(), dtype, reduction_len=K)
