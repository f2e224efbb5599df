// Shared device helpers of the SKVQ CUDA kernels: packed-code extraction and packing
// (core/src/bits.ts), metadata formats with directed rounding (quantizer-group-clip's
// meta.ts / minifloat.ts), and the segment descriptor the attention kernel reads.
//
// Bit-exactness: every step of the quantize path uses the IEEE round-to-nearest intrinsics
// (__fadd_rn, __fsub_rn, __fmul_rn, __fdiv_rn) and the files are compiled with
// --fmad=false, so no multiply-add is contracted and results match the float32 reference
// (Math.fround at every step) bit for bit.
#pragma once
#include <stdint.h>
#ifndef SKVQ_HOST_SHIM
#include <cuda_fp16.h>
// Dynamic shared memory of a kernel. The host emulator (native/emu/host-shim.h) defines
// it as a per-block host buffer instead.
#define SKVQ_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif

// Bit-width codes passed from the host: 0 means 1.5 (ternary), otherwise the bit count.
#define SKVQ_BITS_TERNARY 0

// Metadata formats (core/src/bits.ts MetaFormat).
#define SKVQ_META_FP32 0
#define SKVQ_META_FP16 1
#define SKVQ_META_FP8 2

// Error flags a kernel ORs into its error word; the host turns them into SkvqErrors.
#define SKVQ_ERR_META_RANGE 1u   // |lo| or the scale beyond the metadata format's range
#define SKVQ_ERR_NON_FINITE 2u   // NaN/Inf in an input or in a derived scale/zero
#define SKVQ_ERR_BAD_CODE 4u     // a ternary byte above 242 (not five trits)

// Rounding modes of a stored value (meta.ts MetaRounding).
#define SKVQ_ROUND_NEAREST 0
#define SKVQ_ROUND_FLOOR 1
#define SKVQ_ROUND_CEIL 2

// Floor of the scale: SCALE_FLOOR = f32(1e-5) in quantizer-group-clip/quant-params.ts.
#define SKVQ_SCALE_FLOOR 1e-5f

// Segment kinds in the attention descriptor table.
#define SKVQ_SEG_FP32 0
#define SKVQ_SEG_FP16 1
#define SKVQ_SEG_TOKEN_GROUP 2
#define SKVQ_SEG_CHANNEL_BLOCK 3

// One segment of keys or values as the attention kernel sees it. 64 bytes; the host packs
// it with the same field order (src/segments.ts, SEGMENT_DESCRIPTOR_BYTES).
struct SegDesc {
  uint64_t data;      // fp rows [rows, channels] (float or half), or packed code rows
  uint64_t meta;      // packed: metadata bytes (one unit per token or per block)
  uint64_t perm;      // token-group: perm[j] = original channel at position j; 0 = identity
  uint64_t groupOf;   // token-group: group index of each permuted position (uint32)
  int32_t kind;       // SKVQ_SEG_*
  int32_t bitsCode;   // packed: SKVQ_BITS_TERNARY or 2, 3, 4, 8
  int32_t metaFmt;    // packed: SKVQ_META_*
  int32_t rowBytes;   // packed: bytes of one token's code row
  int32_t metaBytes;  // packed: metadata bytes of one unit (token or block)
  int32_t blockTokens;  // channel-block: tokens per metadata unit; token-group: 1
  int32_t reserved0;
  int32_t reserved1;
};

__device__ __forceinline__ int skvq_maxq(int bitsCode) {
  return bitsCode == SKVQ_BITS_TERNARY ? 2 : (1 << bitsCode) - 1;
}

__device__ __forceinline__ int skvq_meta_size(int fmt) {
  return fmt == SKVQ_META_FP32 ? 4 : (fmt == SKVQ_META_FP16 ? 2 : 1);
}

// ---------------------------------------------------------------------------------------
// Minifloats (fp16 = IEEE binary16, fp8 = OCP E4M3FN), one generic codec over the
// monotone magnitude code, as minifloat.ts.
struct MiniSpec {
  int mantissaBits;
  int minNormalExp;
  int maxFiniteCode;
  int signBit;
  int nanCode;
  int infCode;  // -1 when the format has no infinity
};

__device__ __forceinline__ MiniSpec skvq_spec(int fmt) {
  MiniSpec s;
  if (fmt == SKVQ_META_FP16) {
    s.mantissaBits = 10; s.minNormalExp = -14; s.maxFiniteCode = 0x7bff;
    s.signBit = 0x8000; s.nanCode = 0x7e00; s.infCode = 0x7c00;
  } else {
    s.mantissaBits = 3; s.minNormalExp = -6; s.maxFiniteCode = 0x7e;
    s.signBit = 0x80; s.nanCode = 0x7f; s.infCode = -1;
  }
  return s;
}

__device__ __forceinline__ float skvq_decode_mini(uint32_t bits, const MiniSpec& s) {
  const bool negative = (bits & (uint32_t)s.signBit) != 0;
  const int code = (int)(bits & (uint32_t)(s.signBit - 1));
  float v;
  if (code == s.nanCode || code > s.maxFiniteCode) {
    if (code == s.infCode) v = __int_as_float(0x7f800000);
    else return __int_as_float(0x7fc00000);
  } else {
    const int m = s.mantissaBits;
    const int e = code >> m;
    const int mant = code & ((1 << m) - 1);
    v = e == 0 ? ldexpf((float)mant, s.minNormalExp - m)
               : ldexpf((float)((1 << m) + mant), e - 1 + s.minNormalExp - m);
  }
  return negative ? -v : v;
}

// Code of x rounded with `rounding`; sets *overflow when it lands beyond the finite range.
__device__ __forceinline__ uint32_t skvq_encode_mini(float x, const MiniSpec& s, int rounding,
                                                     bool* overflow) {
  const bool negative = signbit(x) != 0;
  const float a = fabsf(x);
  // Directed rounding of the value becomes down/up rounding of the magnitude.
  int mode = 0;  // 0 nearest-even, 1 down, 2 up (magnitude)
  if (rounding == SKVQ_ROUND_FLOOR) mode = negative ? 2 : 1;
  else if (rounding == SKVQ_ROUND_CEIL) mode = negative ? 1 : 2;
  int code = 0;
  if (a != 0.0f) {
    int ex;
    frexpf(a, &ex);  // a = f * 2^ex, f in [0.5, 1)
    int e = ex - 1;  // a in [2^e, 2^(e+1))
    if (e < s.minNormalExp) e = s.minNormalExp;  // subnormals share the lowest binade's step
    const float scaled = ldexpf(a, s.mantissaBits - e);  // exact, in [0, 2^(m+1))
    const float r = mode == 1 ? floorf(scaled) : (mode == 2 ? ceilf(scaled) : rintf(scaled));
    code = (e - s.minNormalExp) * (1 << s.mantissaBits) + (int)r;
  }
  if (code > s.maxFiniteCode) *overflow = true;
  return (negative ? (uint32_t)s.signBit : 0u) | (uint32_t)code;
}

// Largest finite value of each metadata format (meta.ts META_MAX).
__device__ __forceinline__ float skvq_meta_max(int fmt) {
  return fmt == SKVQ_META_FP32 ? 3.4028234663852886e38f : (fmt == SKVQ_META_FP16 ? 65504.0f : 448.0f);
}

// roundMeta(format, x, rounding) of meta.ts: the stored value and its bit pattern. Sets
// error flags instead of throwing (the host throws after the launch).
__device__ __forceinline__ float skvq_round_meta(int fmt, float x, int rounding, uint32_t* bits,
                                                 uint32_t* err) {
  if (!isfinite(x)) {
    *err |= SKVQ_ERR_NON_FINITE;
    *bits = 0;
    return 0.0f;
  }
  if (fabsf(x) > skvq_meta_max(fmt)) {
    *err |= SKVQ_ERR_META_RANGE;
    *bits = 0;
    return 0.0f;
  }
  if (fmt == SKVQ_META_FP32) {
    // x is already a float32: directed rounding is the identity.
    *bits = __float_as_uint(x);
    return x;
  }
  const MiniSpec s = skvq_spec(fmt);
  bool overflow = false;
  const uint32_t code = skvq_encode_mini(x, s, rounding, &overflow);
  if (overflow) {
    *err |= SKVQ_ERR_META_RANGE;
    *bits = 0;
    return 0.0f;
  }
  *bits = code;
  return skvq_decode_mini(code, s);
}

// Little-endian store/load of one metadata value at any alignment.
__device__ __forceinline__ void skvq_store_meta(uint8_t* p, int fmt, uint32_t bits) {
  const int n = skvq_meta_size(fmt);
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(bits >> (8 * i));
}

__device__ __forceinline__ float skvq_load_meta(const uint8_t* p, int fmt) {
  if (fmt == SKVQ_META_FP32) {
    const uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                       ((uint32_t)p[3] << 24);
    return __uint_as_float(u);
  }
  if (fmt == SKVQ_META_FP16) {
    const uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    return __half2float(__ushort_as_half(h));
  }
  return skvq_decode_mini(p[0], skvq_spec(SKVQ_META_FP8));
}

// ---------------------------------------------------------------------------------------
// Packed codes (core/src/bits.ts): 8 one per byte; 4 two per byte, low nibble first;
// 3 a dense little-endian bit stream (element i in bits [3i, 3i+3)); 2 four per byte,
// element 4i+j in bits [2j, 2j+2); 1.5 five trits per byte, byte = t0+3t1+9t2+27t3+81t4.

// Code j of a packed row. Sets SKVQ_ERR_BAD_CODE for a ternary byte above 242.
__device__ __forceinline__ int skvq_get_code(const uint8_t* row, int j, int bitsCode,
                                             uint32_t* err) {
  switch (bitsCode) {
    case 8:
      return row[j];
    case 4:
      return (row[j >> 1] >> (4 * (j & 1))) & 0xf;
    case 2:
      return (row[j >> 2] >> (2 * (j & 3))) & 0x3;
    case 3: {
      const int bit = 3 * j;
      const int byte = bit >> 3;
      const int shift = bit & 7;
      int v = row[byte] >> shift;
      if (shift > 5) v |= row[byte + 1] << (8 - shift);
      return v & 0x7;
    }
    default: {  // ternary
      const int byte = row[j / 5];
      if (byte > 242) *err |= SKVQ_ERR_BAD_CODE;
      const int digit = j % 5;
      int v = byte;
      for (int k = 0; k < digit; k++) v /= 3;
      return v % 3;
    }
  }
}

// Byte b of the packed row of the n codes q[0..n) (codes past n count as 0).
__device__ __forceinline__ uint8_t skvq_pack_byte(const uint8_t* q, int n, int b, int bitsCode) {
  switch (bitsCode) {
    case 8:
      return q[b];
    case 4: {
      const int i = 2 * b;
      return (uint8_t)(q[i] | ((i + 1 < n ? q[i + 1] : 0) << 4));
    }
    case 2: {
      int byte = 0;
      for (int j = 0; j < 4; j++) {
        const int i = 4 * b + j;
        if (i < n) byte |= q[i] << (2 * j);
      }
      return (uint8_t)byte;
    }
    case 3: {
      int byte = 0;
      for (int k = 0; k < 8; k++) {
        const int bit = 8 * b + k;
        const int i = bit / 3;
        if (i < n) byte |= ((q[i] >> (bit % 3)) & 1) << k;
      }
      return (uint8_t)byte;
    }
    default: {  // ternary
      int byte = 0;
      int weight = 1;
      for (int j = 0; j < 5; j++) {
        const int i = 5 * b + j;
        if (i < n) byte += q[i] * weight;
        weight *= 3;
      }
      return (uint8_t)byte;
    }
  }
}

// quantParams of quant-params.ts: zero = roundDown(lo), scale = roundUp(max((hi-zero)/maxq,
// SCALE_FLOOR)), both in the metadata format; all float32.
__device__ __forceinline__ void skvq_quant_params(float mn, float mx, float alpha, int maxq,
                                                  int fmt, float* scale, float* zero,
                                                  uint32_t* scaleBits, uint32_t* zeroBits,
                                                  uint32_t* err) {
  const float lo = __fmul_rn(alpha, mn);
  const float hi = __fmul_rn(alpha, mx);
  *zero = skvq_round_meta(fmt, lo, SKVQ_ROUND_FLOOR, zeroBits, err);
  const float raw = fmaxf(__fdiv_rn(__fsub_rn(hi, *zero), (float)maxq), SKVQ_SCALE_FLOOR);
  *scale = skvq_round_meta(fmt, raw, SKVQ_ROUND_CEIL, scaleBits, err);
}

// quantizeValue: floor(clamp(f32(f32(x - zero) / scale), 0, maxq) + 0.5), additions in f32.
__device__ __forceinline__ uint8_t skvq_quantize_value(float x, float scale, float zero, int maxq) {
  const float t = __fdiv_rn(__fsub_rn(x, zero), scale);
  const float c = fminf(fmaxf(t, 0.0f), (float)maxq);
  return (uint8_t)floorf(__fadd_rn(c, 0.5f));
}

// dequantizeValue: f32(f32(q * scale) + zero), two roundings, no FMA.
__device__ __forceinline__ float skvq_dequantize_value(int q, float scale, float zero) {
  return __fadd_rn(__fmul_rn((float)q, scale), zero);
}
