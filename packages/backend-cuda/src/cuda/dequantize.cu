// Dequantize for inspection and tests (never on the attention path): reconstructs tokens
// of a token-group or channel-block page into [count, channels] in ORIGINAL channel order,
// as dequantizeTokensReference / dequantizeBlockReference.
#include "common.cuh"

// One thread per (token, position). `kind` is SKVQ_SEG_TOKEN_GROUP or
// SKVQ_SEG_CHANNEL_BLOCK; `first` is the first token relative to the page start (its
// metadata unit is first / blockTokens for channel-block pages).
extern "C" __global__ void skvq_dequantize(const uint8_t* __restrict__ codes,
                                           const uint8_t* __restrict__ meta, int kind,
                                           int first, int count, int channels,
                                           const uint32_t* __restrict__ perm,
                                           const uint32_t* __restrict__ groupOf, int bitsCode,
                                           int metaFmt, int rowBytes, int metaBytes,
                                           int blockTokens, float* __restrict__ out,
                                           uint32_t* __restrict__ errorWord) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long long)count * channels) return;
  const int t = (int)(i / channels);
  const int j = (int)(i % channels);
  const int token = first + t;
  const int metaSize = skvq_meta_size(metaFmt);
  uint32_t err = 0;
  const int q = skvq_get_code(codes + (size_t)token * rowBytes, j, bitsCode, &err);
  const uint8_t* m;
  int channel;
  if (kind == SKVQ_SEG_TOKEN_GROUP) {
    m = meta + (size_t)token * metaBytes + 2 * groupOf[j] * metaSize;
    channel = perm ? (int)perm[j] : j;
  } else {
    m = meta + (size_t)(token / blockTokens) * metaBytes + 2 * j * metaSize;
    channel = j;
  }
  const float scale = skvq_load_meta(m, metaFmt);
  const float zero = skvq_load_meta(m + metaSize, metaFmt);
  out[(size_t)t * channels + channel] = skvq_dequantize_value(q, scale, zero);
  if (err) atomicOr(errorWord, err);
}
