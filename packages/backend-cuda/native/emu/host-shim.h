// Host emulation of the small part of CUDA the skvq kernels use, so that the very same
// kernel source (src/cuda/*.cu) runs on the CPU: every CUDA thread of a block is a
// std::thread, __syncthreads() is a block barrier, warp shuffles exchange through a
// per-warp slot array between two warp barriers, blocks run one after another. It is a
// test vehicle for the kernels' logic (indexing, packing, reductions, tiles, the online
// softmax), not a fast path: timings mean nothing. Compiled with -ffp-contract=off, so
// float arithmetic rounds like the __f*_rn intrinsics.
#pragma once
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <math.h>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#define SKVQ_HOST_SHIM 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(n)
#define __align__(n) alignas(n)
// Static shared arrays become function statics: blocks run one at a time.
#define __shared__ static

struct SkvqDim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct SkvqBlockContext {
  SkvqDim3 block_index, block_dim, grid_dim;
  std::unique_ptr<std::barrier<>> barrier;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<uint64_t> slots;  // one per thread, for shuffles
  unsigned char* dynamicShared = nullptr;
};

inline SkvqBlockContext*& skvq_context() {
  static SkvqBlockContext* ctx = nullptr;
  return ctx;
}
inline thread_local SkvqDim3 threadIdx;
#define blockIdx (skvq_context()->block_index)
#define blockDim (skvq_context()->block_dim)
#define gridDim (skvq_context()->grid_dim)
#define SKVQ_DYNAMIC_SMEM(name) unsigned char* name = skvq_context()->dynamicShared

inline void __syncthreads() { skvq_context()->barrier->arrive_and_wait(); }

template <typename T>
inline T __shfl_xor_sync(unsigned, T value, int laneMask) {
  SkvqBlockContext* ctx = skvq_context();
  const unsigned t = threadIdx.x;
  const unsigned warpBase = t & ~31u;
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  ctx->slots[t] = bits;
  ctx->warps[t / 32]->arrive_and_wait();
  const uint64_t other = ctx->slots[warpBase + ((t - warpBase) ^ (unsigned)laneMask)];
  ctx->warps[t / 32]->arrive_and_wait();
  T out;
  std::memcpy(&out, &other, sizeof(T));
  return out;
}

inline unsigned atomicOr(uint32_t* address, uint32_t value) {
  return std::atomic_ref<uint32_t>(*address).fetch_or(value);
}

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline float __uint_as_float(uint32_t v) { float f; std::memcpy(&f, &v, 4); return f; }
inline uint32_t __float_as_uint(float f) { uint32_t v; std::memcpy(&v, &f, 4); return v; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __expf(float x) { return std::exp(x); }
using std::isfinite;
using std::max;
using std::min;
using std::signbit;

// fp16 storage type and conversions (IEEE binary16, round to nearest even).
struct __half {
  uint16_t bits;
};
struct __half2 {
  __half x, y;
};
struct float2 {
  float x, y;
};
struct uint2 {
  uint32_t x, y;
};
inline float __half2float(__half h) {
  const uint32_t sign = (h.bits & 0x8000u) << 16;
  const int e = (h.bits >> 10) & 31;
  const uint32_t m = h.bits & 1023u;
  float v;
  if (e == 0) v = std::ldexp((float)m, -24);
  else if (e == 31) v = m ? NAN : INFINITY;
  else v = std::ldexp((float)(1024 + m), e - 25);
  return sign ? -v : v;
}
inline __half __ushort_as_half(uint16_t bits) { return __half{bits}; }
inline float2 __half22float2(__half2 h) { return float2{__half2float(h.x), __half2float(h.y)}; }
inline __half __float2half(float f) {
  // Round to nearest even through the magnitude code (values here are small and finite).
  const bool negative = std::signbit(f);
  float a = std::fabs(f);
  uint16_t code;
  if (a >= 65520.0f) code = 0x7c00;
  else {
    int ex;
    std::frexp(a, &ex);
    int e = a == 0 ? -14 : std::max(ex - 1, -14);
    const float scaled = std::ldexp(a, 10 - e);
    code = (uint16_t)((e + 14) * 1024 + (int)std::nearbyint(scaled));
  }
  return __half{(uint16_t)(code | (negative ? 0x8000 : 0))};
}
