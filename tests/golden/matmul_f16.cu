
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
  __half* const s_2 = (__half*)(tl_smem + 0);
  __half* const s_3 = (__half*)(tl_smem + 8192);
  float r_4[32];
  float r_6[32];
  const int tid = threadIdx.x;
  const bool tl_fast_a_8 = a_s1 == 1 && a_s0 % 8 == 0 && ((unsigned long long)a) % 16 == 0;
  const bool tl_fast_b_8 = b_s1 == 1 && b_s0 % 8 == 0 && ((unsigned long long)b) % 16 == 0;
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
    if (id_k == 0 && (id_k + 0) < sz2) {
      #pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int e = (tid + j * 128) * 8;
        const int i0 = e / 32;
        const int i1 = (e) % 32;
        const long long rem = a_n1 - ((id_k + 0) * 32 + i1);
        const int valid = !((id_m * 64 + i0) < a_n0) ? 0 : (rem >= 8 ? 8 : (rem > 0 ? (int)rem : 0));
        __half* const dst = &s_2[(int)((id_k + 0) % 2) * 2048 + (i0) * 32 + ((i1) ^ (8 * (((i0) / 2) % 4)))];
        const __half* const src = valid > 0 ? &a[(id_m * 64 + i0) * a_s0 + ((id_k + 0) * 32 + i1) * a_s1] : a;
        if (tl_fast_a_8) tl_cp_async16(dst, src, valid * 2);
        else {
        #pragma unroll 1
          for (int v = 0; v < 8; ++v) dst[v] = v < valid ? src[v * a_s1] : __float2half_rn(0.0f);
        }
      }
    }
#line 17 "stdlib/gemm.py"
    if (id_k == 0 && (id_k + 0) < sz2) {
      #pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int e = (tid + j * 128) * 8;
        const int i0 = e / 64;
        const int i1 = (e) % 64;
        const long long rem = b_n1 - (id_n * 64 + i1);
        const int valid = !(((id_k + 0) * 32 + i0) < b_n0) ? 0 : (rem >= 8 ? 8 : (rem > 0 ? (int)rem : 0));
        __half* const dst = &s_3[(int)((id_k + 0) % 2) * 2048 + (i0) * 64 + ((i1) ^ (8 * ((i0) % 8)))];
        const __half* const src = valid > 0 ? &b[((id_k + 0) * 32 + i0) * b_s0 + (id_n * 64 + i1) * b_s1] : b;
        if (tl_fast_b_8) tl_cp_async16(dst, src, valid * 2);
        else {
        #pragma unroll 1
          for (int v = 0; v < 8; ++v) dst[v] = v < valid ? src[v * b_s1] : __float2half_rn(0.0f);
        }
      }
    }
#line 17 "stdlib/gemm.py"
    tl_cp_commit();
#line 17 "stdlib/gemm.py"
    tl_cp_wait<0>();
#line 17 "stdlib/gemm.py"
    __syncthreads();
#line 17 "stdlib/gemm.py"
    if ((id_k + 1) < sz2) {
      #pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int e = (tid + j * 128) * 8;
        const int i0 = e / 32;
        const int i1 = (e) % 32;
        const long long rem = a_n1 - ((id_k + 1) * 32 + i1);
        const int valid = !((id_m * 64 + i0) < a_n0) ? 0 : (rem >= 8 ? 8 : (rem > 0 ? (int)rem : 0));
        __half* const dst = &s_2[(int)((id_k + 1) % 2) * 2048 + (i0) * 32 + ((i1) ^ (8 * (((i0) / 2) % 4)))];
        const __half* const src = valid > 0 ? &a[(id_m * 64 + i0) * a_s0 + ((id_k + 1) * 32 + i1) * a_s1] : a;
        if (tl_fast_a_8) tl_cp_async16(dst, src, valid * 2);
        else {
        #pragma unroll 1
          for (int v = 0; v < 8; ++v) dst[v] = v < valid ? src[v * a_s1] : __float2half_rn(0.0f);
        }
      }
    }
#line 17 "stdlib/gemm.py"
    if ((id_k + 1) < sz2) {
      #pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int e = (tid + j * 128) * 8;
        const int i0 = e / 64;
        const int i1 = (e) % 64;
        const long long rem = b_n1 - (id_n * 64 + i1);
        const int valid = !(((id_k + 1) * 32 + i0) < b_n0) ? 0 : (rem >= 8 ? 8 : (rem > 0 ? (int)rem : 0));
        __half* const dst = &s_3[(int)((id_k + 1) % 2) * 2048 + (i0) * 64 + ((i1) ^ (8 * ((i0) % 8)))];
        const __half* const src = valid > 0 ? &b[((id_k + 1) * 32 + i0) * b_s0 + (id_n * 64 + i1) * b_s1] : b;
        if (tl_fast_b_8) tl_cp_async16(dst, src, valid * 2);
        else {
        #pragma unroll 1
          for (int v = 0; v < 8; ++v) dst[v] = v < valid ? src[v * b_s1] : __float2half_rn(0.0f);
        }
      }
    }
#line 17 "stdlib/gemm.py"
    tl_cp_commit();
#line 17 "stdlib/gemm.py"
    {  // tensor cores: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32, 2x4 fragments per warp
      const int lane = tid % 32, warp = tid / 32;
      const int wr = (warp / 2) * 32, wc = (warp % 2) * 32;
      float tl_d[32];
      #pragma unroll
      for (int j = 0; j < 32; ++j) tl_d[j] = 0.0f;
      #pragma unroll
      for (int kk = 0; kk < 32; kk += 16) {
        unsigned fa[2][4], fb[4][2];
        #pragma unroll
        for (int fi = 0; fi < 2; ++fi) {
          const int i0 = wr + fi * 16 + (lane & 15), i1 = kk + 8 * (lane >> 4);
          tl_ldmatrix_x4(fa[fi], &s_2[(int)(id_k % 2) * 2048 + (i0) * 32 + ((i1) ^ (8 * (((i0) / 2) % 4)))]);
        }
        #pragma unroll
        for (int fj = 0; fj + 1 < 4; fj += 2) {
          const int i0 = kk + (lane & 15), i1 = wc + fj * 8 + 8 * (lane >> 4);
          unsigned t[4];
          tl_ldmatrix_x4_trans(t, &s_3[(int)(id_k % 2) * 2048 + (i0) * 64 + ((i1) ^ (8 * ((i0) % 8)))]);
          fb[fj][0] = t[0]; fb[fj][1] = t[1]; fb[fj + 1][0] = t[2]; fb[fj + 1][1] = t[3];
        }
        #pragma unroll
        for (int fi = 0; fi < 2; ++fi)
        #pragma unroll
          for (int fj = 0; fj < 4; ++fj) tl_mma_m16n8k16_f16(&tl_d[(fi * 4 + fj) * 4], fa[fi], fb[fj]);
      }
      #pragma unroll
      for (int j = 0; j < 32; ++j) {
        const int lane = tid % 32, warp = tid / 32;
        const int reg = j % 4, frag = j / 4;
        const int i0 = (warp / 2) * 32 + (frag / 4) * 16 + ((lane >> 2) + 8 * (reg >> 1));
        const int i1 = (warp % 2) * 32 + (frag % 4) * 8 + ((lane & 3) * 2 + (reg & 1));
        const int e = i0 * 64 + i1;
        r_4[j] = tl_d[j];
      }
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
