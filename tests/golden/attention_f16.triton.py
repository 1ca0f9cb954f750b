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
def attention_kernel_kernel(q_ptr, q_stride0, q_stride1, q_stride2, k_ptr, k_stride0, k_stride1, k_stride2, v_ptr, v_stride0, v_stride1, v_stride2, o_ptr, o_stride0, o_stride1, o_stride2, scale, BH, M, D, N):
    """tilelang kernel `attention_kernel` from kernels.py:94."""
    pid = tl.program_id(0)  # kernels.py:102
    D_all_id = pid % 1  # kernels.py:102
    rest2 = pid // 1  # kernels.py:102
    m_id = rest2 % tl.cdiv(M, 64)  # kernels.py:102
    rest1 = rest2 // tl.cdiv(M, 64)  # kernels.py:102
    bh_id = rest1  # kernels.py:102
    bh_offs = bh_id * 1 + tl.arange(0, 1)  # kernels.py:102
    m_offs = m_id * 64 + tl.arange(0, 64)  # kernels.py:102
    D_all_offs = D_all_id * 64 + tl.arange(0, 64)  # kernels.py:102
    t1 = bh_id + 0  # kernels.py:103
    q_t = tl.load(q_ptr + t1 * q_stride0 + m_offs[:, None] * q_stride1 + D_all_offs[None, :] * q_stride2, mask=(m_offs[:, None] < M), other=0)  # kernels.py:103
    row_max = tl.full([64], float('-inf'), tl.float32)  # kernels.py:104
    row_sum = tl.full([64], 0.0, tl.float32)  # kernels.py:105
    acc = tl.full([64, 64], 0.0, tl.float32)  # kernels.py:106
    for n_id in range(0, tl.cdiv(N, 64)):  # kernels.py:107
        n_offs = n_id * 64 + tl.arange(0, 64)  # kernels.py:107
        t6 = bh_id + 0  # kernels.py:108
        t7 = tl.load(k_ptr + t6 * k_stride0 + n_offs[:, None] * k_stride1 + D_all_offs[None, :] * k_stride2, mask=(n_offs[:, None] < N), other=0)  # kernels.py:108
        t8 = tl.trans(t7)  # kernels.py:108
        t9 = tl.dot(q_t, t8, input_precision='ieee')  # kernels.py:108
        s = (t9 * scale)  # kernels.py:108
        t11 = m_offs  # kernels.py:109
        t12 = tl.expand_dims(t11, 1)  # kernels.py:109
        t13 = n_offs  # kernels.py:109
        t14 = tl.expand_dims(t13, 0)  # kernels.py:109
        t15 = (t12 >= t14)  # kernels.py:109
        t16 = n_offs  # kernels.py:109
        t17 = tl.expand_dims(t16, 0)  # kernels.py:109
        t18 = tl.full([], N, tl.int32)  # kernels.py:109
        t19 = (t17 < t18)  # kernels.py:109
        visible = (t15 & t19)  # kernels.py:109
        s = tl.where(visible, s, float('-inf'))  # kernels.py:110
        t22 = tl.max(s, axis=1).to(tl.float32)  # kernels.py:111
        new_max = tl.maximum(row_max, t22)  # kernels.py:111
        t24 = (row_max - new_max)  # kernels.py:112
        alpha = tl.exp(t24)  # kernels.py:112
        t26 = tl.expand_dims(new_max, 1)  # kernels.py:113
        t27 = (s - t26)  # kernels.py:113
        p = tl.exp(t27)  # kernels.py:113
        t29 = (row_sum * alpha)  # kernels.py:114
        t30 = tl.sum(p, axis=1)  # kernels.py:114
        row_sum = (t29 + t30)  # kernels.py:114
        t32 = tl.expand_dims(alpha, 1)  # kernels.py:115
        t33 = (acc * t32)  # kernels.py:115
        t34 = p.to(tl.float16)  # kernels.py:115
        t35 = bh_id + 0  # kernels.py:115
        t36 = tl.load(v_ptr + t35 * v_stride0 + n_offs[:, None] * v_stride1 + D_all_offs[None, :] * v_stride2, mask=(n_offs[:, None] < N), other=0)  # kernels.py:115
        t37 = tl.dot(t34, t36, input_precision='ieee')  # kernels.py:115
        acc = (t33 + t37)  # kernels.py:115
        row_max = new_max  # kernels.py:116
    t39 = bh_id + 0  # kernels.py:117
    t40 = tl.expand_dims(row_sum, 1)  # kernels.py:117
    t41 = (acc / t40)  # kernels.py:117
    t42 = t41.to(tl.float16)  # kernels.py:117
    tl.store(o_ptr + t39 * o_stride0 + m_offs[:, None] * o_stride1 + D_all_offs[None, :] * o_stride2, t42, mask=(m_offs[:, None] < M))  # kernels.py:117
