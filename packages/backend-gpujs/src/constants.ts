/** Registry name and priority: below WebGPU (20), above the CPU backends (0). */
export const GPUJS_BACKEND_NAME = 'gpujs';
export const GPUJS_PRIORITY = 10;

/**
 * Key positions one attention thread reduces (split-K chunk): each chunk yields a partial
 * (max, sum of exp, weighted values) that the host combines flash-decoding style. A
 * compile-time loop bound, so GLSL ES 1.0 (WebGL1, headless-gl) accepts the loop.
 */
export const ATTENTION_CHUNK = 64;

/**
 * Most key positions one pass covers. Longer contexts run in several passes ("slices"),
 * each uploading only its own rows, so every index in a kernel stays an exact float32
 * integer (< 2^24) and every texture stays far below WebGL's size limits.
 */
export const MAX_SLICE_TOKENS = 4096;

/** Most floats of one slice's packed data texture (codes, metadata, tables, fp rows). */
export const MAX_SLICE_FLOATS = 1 << 22;

/** Most score cells (positions x query rows x heads) one pass may hold. */
export const MAX_SCORE_CELLS = 1 << 22;

/** Most prefill query rows one pass scores; more rows run as several batches. */
export const MAX_PREFILL_ROWS = 64;

/** Score of a masked or padded position inside a chunk: a finite "minus infinity". */
export const NEG_LARGE = -1e30;

/**
 * Quantize codes are computed on the device with its own float32 division, which WebGL
 * only promises to 2.5 ulp. A value whose quotient lies within this relative distance of
 * a rounding boundary (a half-integer) is flagged, and the host recomputes that row with
 * the exact reference arithmetic; everything else is provably the same code. 2^-19 is 16
 * ulp of float32: far wider than any conformant division error, still rare (measured by
 * bench/exact-rows.mjs on uniform random tokens: about 1 value in 10^5 at 2 bits, i.e. 3.9%
 * of 4096-channel rows recomputed; 11% of rows at 4 bits).
 */
export const QUANT_BOUNDARY_MARGIN = 2 ** -19;
