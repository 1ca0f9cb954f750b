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
def matmul_kernel_kernel(a_ptr, a_stride0, a_stride1, b_ptr, b_stride0, b_stride1, c_ptr, c_stride0, c_stride1, M, K, N):
    """tilelang kernel `matmul_kernel` from gemm.py:10."""
    pid = tl.program_id(0)  # gemm.py:14
    n_id = pid % tl.cdiv(N, 64)  # gemm.py:14
    rest1 = pid // tl.cdiv(N, 64)  # gemm.py:14
    m_id = rest1  # gemm.py:14
    m_offs = m_id * 64 + tl.arange(0, 64)  # gemm.py:14
    n_offs = n_id * 64 + tl.arange(0, 64)  # gemm.py:14
    acc = tl.full([64, 64], 0.0, tl.float32)  # gemm.py:15
    for k_id in range(0, tl.cdiv(K, 32)):  # gemm.py:16
        k_offs = k_id * 32 + tl.arange(0, 32)  # gemm.py:16
        t2 = tl.load(a_ptr + m_offs[:, None] * a_stride0 + k_offs[None, :] * a_stride1, mask=(m_offs[:, None] < M), other=0)  # gemm.py:17
        t3 = tl.load(b_ptr + k_offs[:, None] * b_stride0 + n_offs[None, :] * b_stride1, mask=(n_offs[None, :] < N), other=0)  # gemm.py:17
        t4 = tl.dot(t2, t3, input_precision='ieee')  # gemm.py:17
        acc = (acc + t4)  # gemm.py:17
    t6 = acc.to(tl.float16)  # gemm.py:18
    tl.store(c_ptr + m_offs[:, None] * c_stride0 + n_offs[None, :] * c_stride1, t6, mask=(m_offs[:, None] < M) & (n_offs[None, :] < N))  # gemm.py:18
