// Quantize-and-append kernels: token-group layouts (SKVQ, RTN, KIVI values) and
// channel-block layouts (KIVI keys). Bit-exact with quantizeTokensReference
// (@skvq/quantizer-group-clip) and quantizeBlockReference (@skvq/baselines).
#include "common.cuh"

// Warp reduction of (value, index) keeping the smallest (or largest) value and, among
// equal values, the smallest index: the reference scans in order and keeps the first of
// equal values, which only matters for +0 / -0 (it decides the sign of a stored zero).
__device__ __forceinline__ void skvq_warp_argext(float* v, int* idx, bool wantMin) {
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, *v, off);
    const int oi = __shfl_xor_sync(0xffffffffu, *idx, off);
    const bool better = wantMin ? (ov < *v) : (ov > *v);
    if (better || (ov == *v && oi < *idx)) {
      *v = ov;
      *idx = oi;
    }
  }
}

// One thread block per token. Dynamic shared memory: 2*groups floats of parameters, then
// `channels` bytes of codes in permuted order.
extern "C" __global__ void skvq_quantize_tokens(
    const float* __restrict__ x, int count, int channels, const uint32_t* __restrict__ perm,
    const uint32_t* __restrict__ groupOffsets, int groups, int bitsCode, int metaFmt,
    float alpha, uint8_t* __restrict__ codes, uint8_t* __restrict__ meta, int rowBytes,
    int metaBytes, uint32_t* __restrict__ errorWord) {
  const int t = blockIdx.x;
  if (t >= count) return;
  SKVQ_DYNAMIC_SMEM(smem);
  float* params = reinterpret_cast<float*>(smem);
  uint8_t* q = smem + 2 * groups * sizeof(float);
  const float* xt = x + (size_t)t * channels;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  const int maxq = skvq_maxq(bitsCode);
  const int metaSize = skvq_meta_size(metaFmt);
  uint32_t err = 0;

  // Phase 1: one warp per group: min/max, then scale and zero (stored rounded).
  for (int g = warp; g < groups; g += warps) {
    const int start = (int)groupOffsets[g];
    const int end = (int)groupOffsets[g + 1];
    float mn = __int_as_float(0x7f800000), mx = __int_as_float(0xff800000);
    int mnIdx = 0x7fffffff, mxIdx = 0x7fffffff;
    for (int j = start + lane; j < end; j += 32) {
      const float v = xt[perm ? perm[j] : j];
      if (!isfinite(v)) err |= SKVQ_ERR_NON_FINITE;
      if (v < mn) { mn = v; mnIdx = j; }
      if (v > mx) { mx = v; mxIdx = j; }
    }
    skvq_warp_argext(&mn, &mnIdx, true);
    skvq_warp_argext(&mx, &mxIdx, false);
    if (lane == 0) {
      float scale, zero;
      uint32_t scaleBits, zeroBits;
      skvq_quant_params(mn, mx, alpha, maxq, metaFmt, &scale, &zero, &scaleBits, &zeroBits, &err);
      params[2 * g] = scale;
      params[2 * g + 1] = zero;
      uint8_t* m = meta + (size_t)t * metaBytes;
      skvq_store_meta(m + 2 * g * metaSize, metaFmt, scaleBits);
      skvq_store_meta(m + (2 * g + 1) * metaSize, metaFmt, zeroBits);
    }
  }
  __syncthreads();

  // Phase 2: codes of every position, in permuted order.
  for (int g = warp; g < groups; g += warps) {
    const float scale = params[2 * g];
    const float zero = params[2 * g + 1];
    for (int j = (int)groupOffsets[g] + lane; j < (int)groupOffsets[g + 1]; j += 32) {
      q[j] = skvq_quantize_value(xt[perm ? perm[j] : j], scale, zero, maxq);
    }
  }
  __syncthreads();

  // Phase 3: pack, one byte per thread.
  uint8_t* row = codes + (size_t)t * rowBytes;
  for (int b = threadIdx.x; b < rowBytes; b += blockDim.x) {
    row[b] = skvq_pack_byte(q, channels, b, bitsCode);
  }
  if (err) atomicOr(errorWord, err);
}

// Channel-block quantization, step 1: one thread per channel computes the block's min/max
// down the channel, stores scale and zero, and writes the codes to a byte-per-code scratch
// [blockTokens, channels].
extern "C" __global__ void skvq_quantize_block_codes(
    const float* __restrict__ x, int blockTokens, int channels, int bitsCode, int metaFmt,
    float alpha, uint8_t* __restrict__ scratch, uint8_t* __restrict__ meta,
    uint32_t* __restrict__ errorWord) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const int maxq = skvq_maxq(bitsCode);
  const int metaSize = skvq_meta_size(metaFmt);
  uint32_t err = 0;
  // Sequential scan in token order, exactly like the reference (ties keep the first).
  float mn = __int_as_float(0x7f800000), mx = __int_as_float(0xff800000);
  for (int t = 0; t < blockTokens; t++) {
    const float v = x[(size_t)t * channels + c];
    if (!isfinite(v)) err |= SKVQ_ERR_NON_FINITE;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  float scale, zero;
  uint32_t scaleBits, zeroBits;
  skvq_quant_params(mn, mx, alpha, maxq, metaFmt, &scale, &zero, &scaleBits, &zeroBits, &err);
  skvq_store_meta(meta + 2 * c * metaSize, metaFmt, scaleBits);
  skvq_store_meta(meta + (2 * c + 1) * metaSize, metaFmt, zeroBits);
  for (int t = 0; t < blockTokens; t++) {
    scratch[(size_t)t * channels + c] =
        skvq_quantize_value(x[(size_t)t * channels + c], scale, zero, maxq);
  }
  if (err) atomicOr(errorWord, err);
}

// Channel-block quantization, step 2 (also usable for any byte-per-code rows): packs
// `rows` rows of `channels` codes into rows of `rowBytes` bytes. One thread per byte.
extern "C" __global__ void skvq_pack_rows(const uint8_t* __restrict__ scratch, int rows,
                                          int channels, int bitsCode,
                                          uint8_t* __restrict__ codes, int rowBytes) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long long)rows * rowBytes) return;
  const int r = (int)(i / rowBytes);
  const int b = (int)(i % rowBytes);
  codes[i] = skvq_pack_byte(scratch + (size_t)r * channels, channels, b, bitsCode);
}

// Widens fp16 rows already in device memory to float32 (exact), so tokens a cache holds at
// fp16 (sinks, the window) are quantized by the same kernels, bit for bit like the CPU
// reference applied to the decoded values. Grid-stride: any grid covers n.
extern "C" __global__ void skvq_half_to_float(const __half* __restrict__ src, long long n,
                                              float* __restrict__ dst) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    dst[i] = __half2float(src[i]);
  }
}
