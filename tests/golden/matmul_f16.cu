
extern "C" __global__ void __launch_bounds__(128) matmul_kernel(
    __half* __restrict__ a,
    long long a_n0,
    long long a_n1,
    long long a_s0,
    long long a_s1,
    __half* __restrict__ b,
    long long b_n0,
    long long b_n1,
    long long b_s0,
    long long b_s1,
    __half* __restrict__ c,
    long long c_n0,
    long long c_n1,
    long long c_s0,
    long long c_s1,
    long long sz0,
    long long sz1,
    long long sz2) {
  extern __shared__ __align__(16) unsigned char tl_smem[];
  float r_acc[32];
  float* const s_2 = (float*)(tl_smem + 0);
  float* const s_3 = (float*)(tl_smem + 8192);
  float r_4[32];
  float r_6[32];
  const int tid = threadIdx.x;
  long long pid = blockIdx.x;
  const long long id_n = pid % sz1; pid /= sz1;
  const long long id_m = pid % sz0; pid /= sz0;
#line 15 "stdlib/gemm.py"
  #pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int lane = tid % 32, warp = tid / 32;
    const int reg = j % 4, frag = j / 4;
    const int i0 = (warp / 2) * 32 + (frag / 4) * 16 + ((lane >> 2) + 8 * (reg >> 1));
    const int i1 = (warp % 2) * 32 + (frag % 4) * 8 + ((lane & 3) * 2 + (reg & 1));
    const int e = i0 * 64 + i1;
    r_acc[j] = 0.0f;
  }
#line 16 "stdlib/gemm.py"
  for (long long id_k = 0; id_k < sz2; ++id_k) {
#line 17 "stdlib/gemm.py"
    __syncthreads();
#line 17 "stdlib/gemm.py"
    #pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int e = tid + j * 128;
      const int i0 = e / 32;
      const int i1 = (e) % 32;
      s_2[(i0) * 32 + ((i1) ^ ((i0) % 32))] = (((id_m * 64 + i0) < a_n0 && (id_k * 32 + i1) < a_n1) ? (float)__half2float(a[(id_m * 64 + i0) * a_s0 + (id_k * 32 + i1) * a_s1]) : 0.0f);
    }
#line 17 "stdlib/gemm.py"
    #pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int e = tid + j * 128;
      const int i0 = e / 64;
      const int i1 = (e) % 64;
      s_3[e] = (((id_k * 32 + i0) < b_n0 && (id_n * 64 + i1) < b_n1) ? (float)__half2float(b[(id_k * 32 + i0) * b_s0 + (id_n * 64 + i1) * b_s1]) : 0.0f);
    }
#line 17 "stdlib/gemm.py"
    __syncthreads();
#line 17 "stdlib/gemm.py"
    #pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int lane = tid % 32, warp = tid / 32;
      const int reg = j % 4, frag = j / 4;
      const int i0 = (warp / 2) * 32 + (frag / 4) * 16 + ((lane >> 2) + 8 * (reg >> 1));
      const int i1 = (warp % 2) * 32 + (frag % 4) * 8 + ((lane & 3) * 2 + (reg & 1));
      const int e = i0 * 64 + i1;
      float acc = 0;
      for (int k = 0; k < 32; ++k) acc += (float)s_2[(i0) * 32 + ((k) ^ ((i0) % 32))] * (float)s_3[k * 64 + i1];
      r_4[j] = ((float)acc);
    }
#line 17 "stdlib/gemm.py"
    #pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int lane = tid % 32, warp = tid / 32;
      const int reg = j % 4, frag = j / 4;
      const int i0 = (warp / 2) * 32 + (frag / 4) * 16 + ((lane >> 2) + 8 * (reg >> 1));
      const int i1 = (warp % 2) * 32 + (frag % 4) * 8 + ((lane & 3) * 2 + (reg & 1));
      const int e = i0 * 64 + i1;
      r_acc[j] = ((float)(r_acc[j] + r_4[j]));
    }
  }
#line 18 "stdlib/gemm.py"
  #pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int lane = tid % 32, warp = tid / 32;
    const int reg = j % 4, frag = j / 4;
    const int i0 = (warp / 2) * 32 + (frag / 4) * 16 + ((lane >> 2) + 8 * (reg >> 1));
    const int i1 = (warp % 2) * 32 + (frag % 4) * 8 + ((lane & 3) * 2 + (reg & 1));
    const int e = i0 * 64 + i1;
    r_6[j] = tl_rn_f16(((float)(r_acc[j])));
  }
#line 18 "stdlib/gemm.py"
  #pragma unroll
  for (int j = 0; j < 32; ++j) {
    const int lane = tid % 32, warp = tid / 32;
    const int reg = j % 4, frag = j / 4;
    const int i0 = (warp / 2) * 32 + (frag / 4) * 16 + ((lane >> 2) + 8 * (reg >> 1));
    const int i1 = (warp % 2) * 32 + (frag % 4) * 8 + ((lane & 3) * 2 + (reg & 1));
    const int e = i0 * 64 + i1;
    if ((id_m * 64 + i0) < c_n0 && (id_n * 64 + i1) < c_n1) c[(id_m * 64 + i0) * c_s0 + (id_n * 64 + i1) * c_s1] = __float2half_rn(r_6[j]);
  }
}
