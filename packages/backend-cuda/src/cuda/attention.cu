// Fused attention over sinks + packed pages + window, split over the sequence
// (flash-decoding): each thread block takes one chunk of key positions for one query,
// dequantizes its keys and values tile by tile into shared memory (never a global
// dequantized copy), applies RoPE to pre-RoPE keys inside the dot product, keeps an online
// softmax, and writes partial (max, sum, accumulator) per query head; skvq_attend_reduce
// merges the chunks. One launch serves decode (one query) and chunked prefill (gridDim.y
// queries, causal).
//
// Keys and values are each described by a table of segments (SegDesc) and a per-position
// location word (segment << 20 | row), so keys and values may be split differently
// (e.g. KIVI keys beside SKVQ values) and positions may be in any order inside segments.
#include "common.cuh"

#define SKVQ_ATTN_THREADS 256
// Output elements (queryHeads * headDim) each thread accumulates in registers; the host
// rejects geometries above SKVQ_ATTN_THREADS * SKVQ_ACC_PER_THREAD = 8192 (attention.ts).
#define SKVQ_ACC_PER_THREAD 32

#define SKVQ_ROPE_NONE 0
#define SKVQ_ROPE_PAIRWISE 1
#define SKVQ_ROPE_HALF 2

// Location word: segment index in the top 12 bits (4096 segments: a 128k-token cache in
// 256-token pages has 512), row in the low 20 (segments.ts LOCATION_SEGMENT_SHIFT).
#define SKVQ_LOC_SEGMENT_SHIFT 20
#define SKVQ_LOC_ROW_MASK 0xfffffu

// Reconstructs code q at permuted position j of a packed row and stores it at its original
// channel. `m` is the row's metadata unit.
__device__ __forceinline__ void skvq_store_code(const SegDesc& s, const uint8_t* m, int metaSize,
                                                int j, int q, float* out) {
  if (s.kind == SKVQ_SEG_TOKEN_GROUP) {
    const uint32_t* perm = reinterpret_cast<const uint32_t*>(s.perm);
    const uint32_t g = reinterpret_cast<const uint32_t*>(s.groupOf)[j];
    const uint8_t* sz = m + 2 * g * metaSize;
    out[perm ? perm[j] : (uint32_t)j] = skvq_dequantize_value(
        q, skvq_load_meta(sz, s.metaFmt), skvq_load_meta(sz + metaSize, s.metaFmt));
  } else {
    const uint8_t* sz = m + 2 * j * metaSize;
    out[j] = skvq_dequantize_value(q, skvq_load_meta(sz, s.metaFmt),
                                   skvq_load_meta(sz + metaSize, s.metaFmt));
  }
}

// Dequantizes (or converts) rows of one tile into dst[t * channels + originalChannel].
// Packed rows of 8/4/2 bits and ternary are walked a byte per thread (one load and one
// unpack for all the codes of a byte); the 3-bit bit stream code by code.
__device__ __forceinline__ void skvq_decode_tile(const SegDesc* descs, const int* rows, int nT,
                                                 float* dst, int channels, uint32_t* err) {
  for (int t = 0; t < nT; t++) {
    const SegDesc& s = descs[t];
    const int row = rows[t];
    float* out = dst + (size_t)t * channels;
    if (s.kind == SKVQ_SEG_FP32) {
      const float* src = reinterpret_cast<const float*>(s.data) + (size_t)row * channels;
      for (int j = threadIdx.x; j < channels; j += blockDim.x) out[j] = src[j];
      continue;
    }
    if (s.kind == SKVQ_SEG_FP16) {
      const __half* src = reinterpret_cast<const __half*>(s.data) + (size_t)row * channels;
      for (int j = threadIdx.x; j < channels; j += blockDim.x) out[j] = __half2float(src[j]);
      continue;
    }
    const uint8_t* codes = reinterpret_cast<const uint8_t*>(s.data) + (size_t)row * s.rowBytes;
    const int metaSize = skvq_meta_size(s.metaFmt);
    const uint8_t* meta = reinterpret_cast<const uint8_t*>(s.meta);
    const uint8_t* m = s.kind == SKVQ_SEG_TOKEN_GROUP
                           ? meta + (size_t)row * s.metaBytes
                           : meta + (size_t)(row / s.blockTokens) * s.metaBytes;
    const int bits = s.bitsCode;
    const int perByte = bits == 8 ? 1 : bits == 4 ? 2 : bits == 2 ? 4 : bits == 0 ? 5 : 0;
    if (perByte == 0) {  // 3 bits: codes straddle bytes
      for (int j = threadIdx.x; j < channels; j += blockDim.x) {
        skvq_store_code(s, m, metaSize, j, skvq_get_code(codes, j, bits, err), out);
      }
      continue;
    }
    const int mask = (1 << bits) - 1;
    for (int b = threadIdx.x; b < s.rowBytes; b += blockDim.x) {
      int byte = codes[b];
      if (bits == SKVQ_BITS_TERNARY && byte > 242) *err |= SKVQ_ERR_BAD_CODE;
      const int j0 = b * perByte;
      const int n = min(perByte, channels - j0);
      for (int k = 0; k < n; k++) {
        int q;
        if (bits == SKVQ_BITS_TERNARY) {
          q = byte % 3;
          byte /= 3;
        } else {
          q = byte & mask;
          byte >>= bits;
        }
        skvq_store_code(s, m, metaSize, j0 + k, q, out);
      }
    }
  }
}

// Grid (numChunks, numQueries), block SKVQ_ATTN_THREADS. Dynamic shared memory, in order:
// 2*tileTokens SegDesc, 2*tileTokens int rows, then floats: q [QH*D], kv tile [TT*C],
// scores [TT*QH], cos/sin [TT*D], m, l, corr [QH each] (attention.ts attendSharedBytes).
extern "C" __global__ void __launch_bounds__(SKVQ_ATTN_THREADS) skvq_attend_partial(
    const float* __restrict__ qrot, const SegDesc* __restrict__ kSegs,
    const uint32_t* __restrict__ kLoc, const SegDesc* __restrict__ vSegs,
    const uint32_t* __restrict__ vLoc, int length, int start, int causal, int queryHeads,
    int kvHeads, int headDim, int ropeStyle, int keysPreRope,
    const double* __restrict__ invFreq, float scale, int chunkLen, int tileTokens,
    float* __restrict__ partM, float* __restrict__ partL, float* __restrict__ partAcc,
    float* __restrict__ scoresOut, uint32_t* __restrict__ errorWord) {
  const int chunk = blockIdx.x;
  const int numChunks = gridDim.x;
  const int qi = blockIdx.y;
  const int QH = queryHeads;
  const int D = headDim;
  const int C = kvHeads * headDim;
  const int G = queryHeads / kvHeads;
  const int half = headDim / 2;
  const int TT = tileTokens;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int warps = blockDim.x >> 5;
  const bool rotate = keysPreRope && ropeStyle != SKVQ_ROPE_NONE;

  SKVQ_DYNAMIC_SMEM(smem);
  SegDesc* kDesc = reinterpret_cast<SegDesc*>(smem);
  SegDesc* vDesc = kDesc + TT;
  int* kRow = reinterpret_cast<int*>(vDesc + TT);
  int* vRow = kRow + TT;
  float* qs = reinterpret_cast<float*>(vRow + TT);
  float* kv = qs + QH * D;
  float* sc = kv + TT * C;
  float* cs = sc + TT * QH;
  float* mS = cs + TT * D;
  float* lS = mS + QH;
  float* corrS = lS + QH;

  const int limit = causal ? min(length, start + qi + 1) : length;
  const int chunkStart = chunk * chunkLen;
  const int chunkEnd = min(chunkStart + chunkLen, limit);
  uint32_t err = 0;

  for (int i = tid; i < QH * D; i += blockDim.x) qs[i] = qrot[(size_t)qi * QH * D + i];
  for (int h = tid; h < QH; h += blockDim.x) {
    mS[h] = __int_as_float(0xff800000);
    lS[h] = 0.0f;
  }
  float acc[SKVQ_ACC_PER_THREAD];
#pragma unroll
  for (int k = 0; k < SKVQ_ACC_PER_THREAD; k++) acc[k] = 0.0f;
  __syncthreads();

  for (int tileBase = chunkStart; tileBase < chunkEnd; tileBase += TT) {
    const int nT = min(TT, chunkEnd - tileBase);
    if (tid < nT) {
      const uint32_t kl = kLoc[tileBase + tid];
      const uint32_t vl = vLoc[tileBase + tid];
      kDesc[tid] = kSegs[kl >> SKVQ_LOC_SEGMENT_SHIFT];
      kRow[tid] = (int)(kl & SKVQ_LOC_ROW_MASK);
      vDesc[tid] = vSegs[vl >> SKVQ_LOC_SEGMENT_SHIFT];
      vRow[tid] = (int)(vl & SKVQ_LOC_ROW_MASK);
    }
    if (rotate) {
      // cos/sin of every rotation pair at every key position of the tile. The angle is
      // formed and reduced in double (like core/src/rope.ts), so sincosf gets |x| <= pi.
      for (int i = tid; i < nT * half; i += blockDim.x) {
        const int t = i / half;
        const int pair = i % half;
        const double angle = (double)(tileBase + t) * invFreq[pair];
        const double twoPi = 6.283185307179586;
        const float reduced = (float)(angle - twoPi * rint(angle / twoPi));
        float s, c;
        sincosf(reduced, &s, &c);
        cs[2 * i] = c;
        cs[2 * i + 1] = s;
      }
    }
    __syncthreads();
    skvq_decode_tile(kDesc, kRow, nT, kv, C, &err);
    __syncthreads();

    // Scores: one warp per (token, query head); GQA: head h reads KV head h / G.
    for (int pairIdx = warp; pairIdx < nT * QH; pairIdx += warps) {
      const int t = pairIdx / QH;
      const int h = pairIdx % QH;
      const float* qh = qs + h * D;
      const float* kh = kv + (size_t)t * C + (h / G) * D;
      float dot = 0.0f;
      if (rotate) {
        // (R(n) k) . q = sum_i cos_i (qa ka + qb kb) + sin_i (qb ka - qa kb)
        for (int i = lane; i < half; i += 32) {
          const int a = ropeStyle == SKVQ_ROPE_HALF ? i : 2 * i;
          const int b = ropeStyle == SKVQ_ROPE_HALF ? i + half : 2 * i + 1;
          const float c = cs[2 * (t * half + i)];
          const float s = cs[2 * (t * half + i) + 1];
          const float qa = qh[a], qb = qh[b], ka = kh[a], kb = kh[b];
          dot += c * (qa * ka + qb * kb) + s * (qb * ka - qa * kb);
        }
      } else {
        for (int d = lane; d < D; d += 32) dot += qh[d] * kh[d];
      }
      for (int off = 16; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
      if (lane == 0) {
        const float s = dot * scale;
        sc[t * QH + h] = s;
        if (scoresOut) scoresOut[((size_t)qi * length + tileBase + t) * QH + h] = s;
      }
    }
    __syncthreads();

    // Online softmax: scores become probabilities relative to the running max.
    for (int h = tid; h < QH; h += blockDim.x) {
      float mx = mS[h];
      for (int t = 0; t < nT; t++) mx = fmaxf(mx, sc[t * QH + h]);
      const float corr = expf(mS[h] - mx);  // exp(-inf) = 0 on the first tile
      float sum = 0.0f;
      for (int t = 0; t < nT; t++) {
        const float p = expf(sc[t * QH + h] - mx);
        sc[t * QH + h] = p;
        sum += p;
      }
      lS[h] = lS[h] * corr + sum;
      mS[h] = mx;
      corrS[h] = corr;
    }
    // The key tile is no longer needed: the value tile takes its place.
    __syncthreads();
    skvq_decode_tile(vDesc, vRow, nT, kv, C, &err);
    __syncthreads();

#pragma unroll
    for (int k = 0; k < SKVQ_ACC_PER_THREAD; k++) {
      const int o = tid + k * SKVQ_ATTN_THREADS;
      if (o < QH * D) {
        const int h = o / D;
        const int d = o % D;
        const float* v = kv + (h / G) * D + d;
        float a = acc[k] * corrS[h];
        for (int t = 0; t < nT; t++) a += sc[t * QH + h] * v[(size_t)t * C];
        acc[k] = a;
      }
    }
    __syncthreads();
  }

  const size_t part = (size_t)qi * numChunks + chunk;
  for (int h = tid; h < QH; h += blockDim.x) {
    partM[part * QH + h] = mS[h];
    partL[part * QH + h] = lS[h];
  }
#pragma unroll
  for (int k = 0; k < SKVQ_ACC_PER_THREAD; k++) {
    const int o = tid + k * SKVQ_ATTN_THREADS;
    if (o < QH * D) partAcc[part * QH * D + o] = acc[k];
  }
  if (err) atomicOr(errorWord, err);
}

// Merges the chunks of every (query, head): grid (queryHeads, numQueries). Writes the
// output [numQueries, QH*D] and the final max and sum of each (query, head) for
// skvq_attention_sums.
extern "C" __global__ void skvq_attend_reduce(const float* __restrict__ partM,
                                              const float* __restrict__ partL,
                                              const float* __restrict__ partAcc,
                                              int numChunks, int queryHeads, int headDim,
                                              float* __restrict__ out,
                                              float* __restrict__ finalM,
                                              float* __restrict__ finalL) {
  const int h = blockIdx.x;
  const int qi = blockIdx.y;
  const int QH = queryHeads;
  const size_t base = (size_t)qi * numChunks;
  float M = __int_as_float(0xff800000);
  for (int c = 0; c < numChunks; c++) M = fmaxf(M, partM[(base + c) * QH + h]);
  float L = 0.0f;
  if (M != __int_as_float(0xff800000)) {
    for (int c = 0; c < numChunks; c++) {
      const float m = partM[(base + c) * QH + h];
      if (m != __int_as_float(0xff800000)) L += partL[(base + c) * QH + h] * expf(m - M);
    }
  }
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    float a = 0.0f;
    for (int c = 0; c < numChunks; c++) {
      const float m = partM[(base + c) * QH + h];
      if (m != __int_as_float(0xff800000)) {
        a += partAcc[((base + c) * QH + h) * headDim + d] * expf(m - M);
      }
    }
    out[((size_t)qi * QH + h) * headDim + d] = a / L;
  }
  if (threadIdx.x == 0) {
    finalM[(size_t)qi * QH + h] = M;
    finalL[(size_t)qi * QH + h] = L;
  }
}

// Attention probability of every position, averaged over query heads and summed over the
// queries that see it (heavy-hitter statistics). One thread per position.
extern "C" __global__ void skvq_attention_sums(const float* __restrict__ scores,
                                               const float* __restrict__ finalM,
                                               const float* __restrict__ finalL,
                                               int numQueries, int length, int start,
                                               int causal, int queryHeads,
                                               float* __restrict__ sums) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= length) return;
  float total = 0.0f;
  for (int qi = 0; qi < numQueries; qi++) {
    const int limit = causal ? min(length, start + qi + 1) : length;
    if (p >= limit) continue;
    float perQuery = 0.0f;
    for (int h = 0; h < queryHeads; h++) {
      const size_t i = (size_t)qi * queryHeads + h;
      perQuery += expf(scores[((size_t)qi * length + p) * queryHeads + h] - finalM[i]) / finalL[i];
    }
    total += perQuery / (float)queryHeads;
  }
  sums[p] = total;
}
