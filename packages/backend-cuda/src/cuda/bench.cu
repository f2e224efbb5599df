// Benchmark-only kernels: a dense fp16 flash-decoding attention (the baseline the fused
// SKVQ kernel is compared with) and device-side fillers, so multi-gigabyte caches are
// generated on the GPU instead of being uploaded from the host.
#include "common.cuh"

#define DENSE_HEAD_DIM 128  // 7B-layer geometry: head dim 128 (lane holds 4 dims)
#define DENSE_WARPS 4
#define DENSE_MAX_GROUP 8   // query heads per KV head the dense kernel supports (GQA)

// Dense fp16 decode attention over post-RoPE keys K, V = [length, kvHeads * 128] (half),
// query `q` = [queryHeads * 128] already rotated. Grid (numChunks, kvHeads), block
// 4 warps; each warp walks every 4th token of the chunk with its own online softmax, the
// warps merge in shared memory, and skvq_attend_reduce (attention.cu) merges the chunks
// (same partial layout: [numChunks, queryHeads] and [numChunks, queryHeads, 128]).
extern "C" __global__ void __launch_bounds__(DENSE_WARPS * 32) dense_fp16_decode_partial(
    const float* __restrict__ q, const __half* __restrict__ K, const __half* __restrict__ V,
    int length, int queryHeads, int kvHeads, float scale, int chunkLen,
    float* __restrict__ partM, float* __restrict__ partL, float* __restrict__ partAcc) {
  const int chunk = blockIdx.x;
  const int kh = blockIdx.y;
  const int G = queryHeads / kvHeads;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int C = kvHeads * DENSE_HEAD_DIM;
  const int chunkStart = chunk * chunkLen;
  const int chunkEnd = min(chunkStart + chunkLen, length);

  float qv[DENSE_MAX_GROUP][4];
  float m[DENSE_MAX_GROUP], l[DENSE_MAX_GROUP], acc[DENSE_MAX_GROUP][4];
#pragma unroll
  for (int g = 0; g < DENSE_MAX_GROUP; g++) {
    m[g] = __int_as_float(0xff800000);
    l[g] = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      acc[g][i] = 0.0f;
      qv[g][i] = g < G ? q[(kh * G + g) * DENSE_HEAD_DIM + lane * 4 + i] * scale : 0.0f;
    }
  }

  for (int p = chunkStart + warp; p < chunkEnd; p += DENSE_WARPS) {
    const size_t off = (size_t)p * C + kh * DENSE_HEAD_DIM + lane * 4;
    const uint2 kraw = *reinterpret_cast<const uint2*>(K + off);
    const uint2 vraw = *reinterpret_cast<const uint2*>(V + off);
    const float2 k01 = __half22float2(*reinterpret_cast<const __half2*>(&kraw.x));
    const float2 k23 = __half22float2(*reinterpret_cast<const __half2*>(&kraw.y));
    const float2 v01 = __half22float2(*reinterpret_cast<const __half2*>(&vraw.x));
    const float2 v23 = __half22float2(*reinterpret_cast<const __half2*>(&vraw.y));
#pragma unroll
    for (int g = 0; g < DENSE_MAX_GROUP; g++) {
      if (g < G) {
        float s = qv[g][0] * k01.x + qv[g][1] * k01.y + qv[g][2] * k23.x + qv[g][3] * k23.y;
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        const float mNew = fmaxf(m[g], s);
        const float corr = __expf(m[g] - mNew);
        const float e = __expf(s - mNew);
        l[g] = l[g] * corr + e;
        acc[g][0] = acc[g][0] * corr + e * v01.x;
        acc[g][1] = acc[g][1] * corr + e * v01.y;
        acc[g][2] = acc[g][2] * corr + e * v23.x;
        acc[g][3] = acc[g][3] * corr + e * v23.y;
        m[g] = mNew;
      }
    }
  }

  __shared__ float sm[DENSE_WARPS][DENSE_MAX_GROUP];
  __shared__ float sl[DENSE_WARPS][DENSE_MAX_GROUP];
  __shared__ float sacc[DENSE_WARPS][DENSE_MAX_GROUP][DENSE_HEAD_DIM];
#pragma unroll
  for (int g = 0; g < DENSE_MAX_GROUP; g++) {
    if (g < G) {
      if (lane == 0) {
        sm[warp][g] = m[g];
        sl[warp][g] = l[g];
      }
#pragma unroll
      for (int i = 0; i < 4; i++) sacc[warp][g][lane * 4 + i] = acc[g][i];
    }
  }
  __syncthreads();
  const int d = threadIdx.x;  // 128 threads = 128 dims
  for (int g = 0; g < G; g++) {
    float M = __int_as_float(0xff800000);
    for (int w = 0; w < DENSE_WARPS; w++) M = fmaxf(M, sm[w][g]);
    float L = 0.0f, A = 0.0f;
    if (M != __int_as_float(0xff800000)) {
      for (int w = 0; w < DENSE_WARPS; w++) {
        const float f = sm[w][g] == __int_as_float(0xff800000) ? 0.0f : __expf(sm[w][g] - M);
        L += sl[w][g] * f;
        A += sacc[w][g][d] * f;
      }
    }
    const size_t h = (size_t)chunk * queryHeads + kh * G + g;
    if (d == 0) {
      partM[h] = M;
      partL[h] = L;
    }
    partAcc[h * DENSE_HEAD_DIM + d] = A;
  }
}

__device__ __forceinline__ uint32_t skvq_hash(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// bytes[i] = hash(i, seed) % modulo (random packed codes; modulo 243 gives valid ternary).
extern "C" __global__ void skvq_fill_bytes(uint8_t* __restrict__ p, long long n, uint32_t seed,
                                           int modulo) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    p[i] = (uint8_t)(skvq_hash((uint32_t)i ^ skvq_hash((uint32_t)(i >> 32) + seed)) % modulo);
  }
}

// halfs[i] uniform in [-amplitude, amplitude].
extern "C" __global__ void skvq_fill_half(__half* __restrict__ p, long long n, uint32_t seed,
                                          float amplitude) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const uint32_t h = skvq_hash((uint32_t)i ^ skvq_hash((uint32_t)(i >> 32) + seed));
    p[i] = __float2half(amplitude * ((float)(h & 0xffffff) / 8388608.0f - 1.0f));
  }
}

// Interleaved fp8 E4M3 [scale, zero] pairs: scales in [2^-3, 2^-2), zeros in (-2^-1, -2^-2].
extern "C" __global__ void skvq_fill_fp8_meta(uint8_t* __restrict__ p, long long n,
                                              uint32_t seed) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const uint32_t h = skvq_hash((uint32_t)i ^ skvq_hash((uint32_t)(i >> 32) + seed)) & 7u;
    // E4M3: exponent field 4 = 2^-3, 5 = 2^-2; mantissa h.
    p[i] = (i & 1) == 0 ? (uint8_t)((4u << 3) | h) : (uint8_t)(0x80u | (5u << 3) | h);
  }
}
