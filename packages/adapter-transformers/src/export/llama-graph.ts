// The Llama decoder as an ONNX graph in the layout transformers.js (and Optimum's exports)
// use for `model_type: "llama"`:
//   inputs  input_ids [batch_size, sequence_length] int64,
//           attention_mask [batch_size, total_sequence_length] int64,
//           position_ids [batch_size, sequence_length] int64,
//           past_key_values.{l}.key|value [batch_size, kvHeads, past_sequence_length, headDim]
//   outputs logits [batch_size, sequence_length, vocab],
//           present.{l}.key|value [batch_size, kvHeads, total_sequence_length, headDim]
// Keys in past/present are post-RoPE in the Hugging Face "rotate half" layout: q/k weight
// rows are permuted from llama2.c's pairwise layout exactly as transformers'
// convert_llama_weights_to_hf does, so the folder looks like any converted Llama.

import { GraphBuilder, ONNX_BOOL, ONNX_FLOAT, ONNX_INT64 } from './onnx-graph.js';
import type { ExportableLlama } from './types.js';

/** float32 lowest: a masked score that softmax turns into an exact 0. */
const MASKED_SCORE = -3.4028234663852886e38;

/** [out, in] row-major -> [in, out] (ONNX MatMul multiplies activations on the left). */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c] as number;
  }
  return out;
}

/**
 * Pairwise RoPE rows (2i, 2i+1 rotate together) -> half layout rows (i, i + headDim/2):
 * in each head, new row j*half + i is old row 2i + j (Hugging Face's `permute`).
 */
export function pairwiseToHalfRows(
  w: Float32Array,
  heads: number,
  headDim: number,
  cols: number,
): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * headDim + 2 * i + j) * cols;
        const to = (h * headDim + j * half + i) * cols;
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** Names of the cache inputs/outputs of layer `l`, as transformers.js looks them up. */
export const pastName = (l: number, kind: 'key' | 'value') => `past_key_values.${l}.${kind}`;
export const presentName = (l: number, kind: 'key' | 'value') => `present.${l}.${kind}`;

/** Builds and serializes the decoder graph of `model`. */
export function buildLlamaOnnx(model: ExportableLlama): Uint8Array {
  const { config: c, weights: w } = model;
  const { dim, heads, kvHeads, headDim, hiddenDim, vocabSize } = c;
  const half = headDim / 2;
  const g = new GraphBuilder();

  const ids = g.input('input_ids', ONNX_INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', ONNX_INT64, ['batch_size', 'total_sequence_length']);
  const posIds = g.input('position_ids', ONNX_INT64, ['batch_size', 'sequence_length']);
  const pastShape = ['batch_size', kvHeads, 'past_sequence_length', headDim];
  for (let l = 0; l < c.layers; l++) {
    g.input(pastName(l, 'key'), ONNX_FLOAT, pastShape);
    g.input(pastName(l, 'value'), ONNX_FLOAT, pastShape);
  }

  // shared constants
  const axis0 = g.int64('axes_0', [0]);
  const axis1 = g.int64('axes_1', [1]);
  const axis2 = g.int64('axes_2', [2]);
  const axes12 = g.int64('axes_1_2', [1, 2]);
  const one = g.int64('one', [1], []);
  const zero = g.int64('zero', [0], []);
  const eps = g.float('rms_eps', Float32Array.of(c.normEps), []);
  const masked = g.float('masked_score', Float32Array.of(MASKED_SCORE), []);
  const scale = g.float('attn_scale', Float32Array.of(1 / Math.sqrt(headDim)), []);
  const splitHeads = (n: number) => g.int64(`shape_split_${n}`, [0, 0, n, headDim]);
  const shapeQ = splitHeads(heads);
  const shapeKv = kvHeads === heads ? shapeQ : splitHeads(kvHeads);
  // GQA without materialising repeated K/V: [B, H, S, *] <-> [B, kvHeads, group*S, *]
  const toKvGroups = g.int64('shape_kv_groups', [0, kvHeads, -1, 0]);
  const toHeads = g.int64('shape_heads', [0, heads, -1, 0]);
  const mergeHeads = g.int64('shape_merge_heads', [0, 0, dim]);

  const rmsnorm = (x: string, weight: string): string => {
    const ms = g.node('ReduceMean', [g.node('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.node('Reciprocal', [g.node('Sqrt', [g.node('Add', [ms, eps])])]);
    return g.node('Mul', [g.node('Mul', [x, inv]), weight]);
  };
  const linear = (x: string, name: string, weight: Float32Array, rows: number, cols: number) =>
    g.node('MatMul', [x, g.float(name, transpose(weight, rows, cols), [cols, rows])]);

  // RoPE tables from position_ids: angle = position * theta^(-2i/headDim), duplicated to
  // [.., headDim] for the half layout; cos/sin [B, 1, S, headDim] broadcast over heads.
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = c.ropeTheta ** (-(2 * i) / headDim);
  const pos = g.node('Unsqueeze', [g.node('Cast', [posIds], { to: ONNX_FLOAT }), axis2]);
  const freqs = g.node('Mul', [pos, g.float('rope_inv_freq', invFreq, [half])]);
  const angles = g.node('Concat', [freqs, freqs], { axis: -1 });
  const cos = g.node('Unsqueeze', [g.node('Cos', [angles]), axis1]);
  const sin = g.node('Unsqueeze', [g.node('Sin', [angles]), axis1]);
  const halfStart = g.int64('half_start', [0]);
  const halfMid = g.int64('half_mid', [half]);
  const halfEnd = g.int64('half_end', [headDim]);
  const axis3 = g.int64('axes_3', [3]);
  const rope = (x: string): string => {
    const x1 = g.node('Slice', [x, halfStart, halfMid, axis3]);
    const x2 = g.node('Slice', [x, halfMid, halfEnd, axis3]);
    const rotated = g.node('Concat', [g.node('Neg', [x2]), x1], { axis: 3 });
    return g.node('Add', [g.node('Mul', [x, cos]), g.node('Mul', [rotated, sin])]);
  };

  // Mask [B, 1, S, T]: key j is visible to query i when j <= i + (T - S) and attention_mask[j].
  const seqLen = g.node('Squeeze', [g.node('Shape', [ids], { start: 1, end: 2 }), axis0]);
  const totalLen = g.node('Squeeze', [g.node('Shape', [mask], { start: 1, end: 2 }), axis0]);
  const offset = g.node('Sub', [totalLen, seqLen]);
  const rows = g.node('Unsqueeze', [
    g.node('Add', [g.node('Range', [zero, seqLen, one]), offset]),
    axis1,
  ]);
  const cols = g.node('Range', [zero, totalLen, one]);
  const causal = g.node('LessOrEqual', [cols, rows]);
  const padding = g.node('Unsqueeze', [g.node('Cast', [mask], { to: ONNX_BOOL }), axes12]);
  const visible = g.node('And', [causal, padding]);

  let x = g.node('Gather', [g.float('embed_tokens', w.tokenEmbedding, [vocabSize, dim]), ids]);
  const kvDim = kvHeads * headDim;
  for (let l = 0; l < c.layers; l++) {
    const lw = w.layers[l]!;
    const p = `layers.${l}`;
    const h = rmsnorm(x, g.float(`${p}.input_layernorm`, lw.attnNorm, [dim]));
    const wq = pairwiseToHalfRows(lw.wq, heads, headDim, dim);
    const wk = pairwiseToHalfRows(lw.wk, kvHeads, headDim, dim);
    const perm = { perm: [0, 2, 1, 3] };
    const q = g.node(
      'Transpose',
      [g.node('Reshape', [linear(h, `${p}.q_proj`, wq, dim, dim), shapeQ])],
      perm,
    );
    const k = g.node(
      'Transpose',
      [g.node('Reshape', [linear(h, `${p}.k_proj`, wk, kvDim, dim), shapeKv])],
      perm,
    );
    const v = g.node(
      'Transpose',
      [g.node('Reshape', [linear(h, `${p}.v_proj`, lw.wv, kvDim, dim), shapeKv])],
      perm,
    );
    const keys = g.node(
      'Concat',
      [pastName(l, 'key'), rope(k)],
      { axis: 2 },
      presentName(l, 'key'),
    );
    const values = g.node(
      'Concat',
      [pastName(l, 'value'), v],
      { axis: 2 },
      presentName(l, 'value'),
    );
    const qs = g.node('Reshape', [g.node('Mul', [rope(q), scale]), toKvGroups]);
    const kt = g.node('Transpose', [keys], { perm: [0, 1, 3, 2] });
    const scores = g.node('Reshape', [g.node('MatMul', [qs, kt]), toHeads]);
    const probs = g.node('Softmax', [g.node('Where', [visible, scores, masked])], { axis: -1 });
    const ctx = g.node('MatMul', [g.node('Reshape', [probs, toKvGroups]), values]);
    const merged = g.node('Reshape', [
      g.node('Transpose', [g.node('Reshape', [ctx, toHeads])], perm),
      mergeHeads,
    ]);
    x = g.node('Add', [x, linear(merged, `${p}.o_proj`, lw.wo, dim, dim)]);
    const h2 = rmsnorm(x, g.float(`${p}.post_attention_layernorm`, lw.ffnNorm, [dim]));
    const gate = linear(h2, `${p}.gate_proj`, lw.w1, hiddenDim, dim);
    const up = linear(h2, `${p}.up_proj`, lw.w3, hiddenDim, dim);
    const act = g.node('Mul', [g.node('Mul', [gate, g.node('Sigmoid', [gate])]), up]);
    x = g.node('Add', [x, linear(act, `${p}.down_proj`, lw.w2, dim, hiddenDim)]);
  }
  const normed = rmsnorm(x, g.float('norm', w.finalNorm, [dim]));
  g.node(
    'MatMul',
    [normed, g.float('lm_head', transpose(w.classifier, vocabSize, dim), [dim, vocabSize])],
    {},
    'logits',
  );

  g.output('logits', ONNX_FLOAT, ['batch_size', 'sequence_length', vocabSize]);
  const presentShape = ['batch_size', kvHeads, 'total_sequence_length', headDim];
  for (let l = 0; l < c.layers; l++) {
    g.output(presentName(l, 'key'), ONNX_FLOAT, presentShape);
    g.output(presentName(l, 'value'), ONNX_FLOAT, presentShape);
  }
  return g.encode('llama_decoder', '@skvq/adapter-transformers');
}
