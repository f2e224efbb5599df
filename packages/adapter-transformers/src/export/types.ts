/**
 * What the exporter needs of a Llama model: the shape of `@skvq/adapter-llama`'s
 * `LlamaModel` (config, fp32 weights, tokenizer), so a loaded model passes as it is.
 * Weights are row-major [out, in] with q/k rows in llama2.c's pairwise RoPE layout.
 */
export interface ExportableLlama {
  config: {
    dim: number;
    hiddenDim: number;
    layers: number;
    heads: number;
    kvHeads: number;
    vocabSize: number;
    contextLength: number;
    headDim: number;
    normEps: number;
    ropeTheta: number;
  };
  weights: {
    tokenEmbedding: Float32Array;
    layers: ReadonlyArray<{
      attnNorm: Float32Array;
      wq: Float32Array;
      wk: Float32Array;
      wv: Float32Array;
      wo: Float32Array;
      ffnNorm: Float32Array;
      w1: Float32Array;
      w2: Float32Array;
      w3: Float32Array;
    }>;
    finalNorm: Float32Array;
    classifier: Float32Array;
  };
  tokenizer?: ExportableTokenizer | undefined;
}

/** A SentencePiece-BPE vocabulary as adapter-llama's Tokenizer holds it. */
export interface ExportableTokenizer {
  /** Token bytes as binary strings (one char per byte), spaces as ' ', bytes as "<0xNN>". */
  readonly pieces: readonly string[];
  /** Merge priority: a higher score merges first (llama2.c run.c). */
  readonly scores: Float32Array;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
}
