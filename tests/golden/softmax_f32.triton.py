import triton
import triton.language as tl


@triton.jit
def _floordiv(a, b):
    # Python semantics (round toward -inf); Triton's // truncates toward zero.
    q = a // b
    return tl.where(((a % b) != 0) & ((a < 0) != (b < 0)), q - 1, q)


@triton.jit
def _mod(a, b):
    return a - _floordiv(a, b) * b


@triton.jit
def softmax_kernel_kernel(x_ptr, x_stride0, x_stride1, out_ptr, out_stride0, out_stride1, M, N):
    """tilelang kernel `softmax_kernel` from kernels.py:26."""
    pid = tl.program_id(0)  # kernels.py:29
    m_id = pid  # kernels.py:29
    m_offs = m_id * 4 + tl.arange(0, 4)  # kernels.py:29
    row_max = tl.full([4], float('-inf'), tl.float32)  # kernels.py:30
    for n_id in range(0, tl.cdiv(N, 1024)):  # kernels.py:31
        n_offs = n_id * 1024 + tl.arange(0, 1024)  # kernels.py:31
        t2 = tl.load(x_ptr + m_offs[:, None] * x_stride0 + n_offs[None, :] * x_stride1, mask=(m_offs[:, None] < M) & (n_offs[None, :] < N), other=float('-inf'))  # kernels.py:32
        v = t2.to(tl.float32)  # kernels.py:32
        t1_pad = n_offs  # kernels.py:33
        t2_pad = tl.full([], N, tl.int32)  # kernels.py:33
        t3_pad = (t1_pad < t2_pad)  # kernels.py:33
        t4_pad = tl.expand_dims(t3_pad, 0)  # kernels.py:33
        t5_pad = tl.where(t4_pad, v, float('-inf'))  # kernels.py:33
        t4 = tl.max(t5_pad, axis=1).to(tl.float32)  # kernels.py:33
        row_max = tl.maximum(row_max, t4)  # kernels.py:33
    denom = tl.full([4], 0.0, tl.float32)  # kernels.py:34
    for n_id in range(0, tl.cdiv(N, 1024)):  # kernels.py:35
        n_offs = n_id * 1024 + tl.arange(0, 1024)  # kernels.py:35
        t7 = tl.load(x_ptr + m_offs[:, None] * x_stride0 + n_offs[None, :] * x_stride1, mask=(m_offs[:, None] < M) & (n_offs[None, :] < N), other=float('-inf'))  # kernels.py:36
        v_1 = t7.to(tl.float32)  # kernels.py:36
        t9 = tl.expand_dims(row_max, 1)  # kernels.py:37
        t10 = (v_1 - t9)  # kernels.py:37
        t11 = tl.exp(t10)  # kernels.py:37
        t12 = tl.sum(t11, axis=1)  # kernels.py:37
        denom = (denom + t12)  # kernels.py:37
    for n_id in range(0, tl.cdiv(N, 1024)):  # kernels.py:38
        n_offs = n_id * 1024 + tl.arange(0, 1024)  # kernels.py:38
        t14 = tl.load(x_ptr + m_offs[:, None] * x_stride0 + n_offs[None, :] * x_stride1, mask=(m_offs[:, None] < M) & (n_offs[None, :] < N), other=float('-inf'))  # kernels.py:39
        v_2 = t14.to(tl.float32)  # kernels.py:39
        t16 = tl.expand_dims(row_max, 1)  # kernels.py:40
        t17 = (v_2 - t16)  # kernels.py:40
        t18 = tl.exp(t17)  # kernels.py:40
        t19 = tl.expand_dims(denom, 1)  # kernels.py:40
        t20 = (t18 / t19)  # kernels.py:40
        t21 = t20.to(tl.float32)  # kernels.py:40
        tl.store(out_ptr + m_offs[:, None] * out_stride0 + n_offs[None, :] * out_stride1, t21, mask=(m_offs[:, None] < M) & (n_offs[None, :] < N))  # kernels.py:40
