/**
 * The hyper-parameters and fp32 weights of a Llama-architecture decoder.
 *
 * Choice: every tensor is dequantized ONCE at load into fp32 (F16, Q8_0, Q4_0 included).
 * The models this runtime targets are small (the forward pass is plain JavaScript), so the
 * 2-8x memory cost is irrelevant next to the simpler, faster fp32 matmul loops; the
 * numerical result is identical to dequantizing per block on the fly.
 */
export interface LlamaConfig {
  dim: number;
  hiddenDim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  /** Longest context the model was trained for. */
  contextLength: number;
  headDim: number;
  /** RMSNorm epsilon (llama2.c: 1e-5). */
  normEps: number;
  /** RoPE base (llama2.c: 10000). */
  ropeTheta: number;
}

export interface LayerWeights {
  attnNorm: Float32Array;
  /** [dim, dim] row-major (output rows), pairwise RoPE layout. */
  wq: Float32Array;
  /** [kvDim, dim]. */
  wk: Float32Array;
  /** [kvDim, dim]. */
  wv: Float32Array;
  /** [dim, dim]. */
  wo: Float32Array;
  ffnNorm: Float32Array;
  /** gate: [hidden, dim]. */
  w1: Float32Array;
  /** down: [dim, hidden]. */
  w2: Float32Array;
  /** up: [hidden, dim]. */
  w3: Float32Array;
}

export interface LlamaWeights {
  /** [vocab, dim]. */
  tokenEmbedding: Float32Array;
  layers: LayerWeights[];
  finalNorm: Float32Array;
  /** [vocab, dim]; the same array as tokenEmbedding when the classifier is shared. */
  classifier: Float32Array;
}

/** llama2.c's default RMSNorm epsilon and RoPE base (run.c constants). */
export const LLAMA2C_NORM_EPS = 1e-5;
export const DEFAULT_ROPE_THETA = 10000;

export function kvDimOf(config: LlamaConfig): number {
  return config.kvHeads * config.headDim;
}
