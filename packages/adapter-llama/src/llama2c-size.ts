import { fail } from './errors.js';
import { kvDimOf, type LlamaConfig } from './weights.js';

/** How a llama2.c file stores its weights (from its header). */
export interface Llama2cLayout {
  /** 0 (legacy), 1 (fp32) or 2 (Q8_0 groups). */
  version: number;
  sharedClassifier: boolean;
  /** Version 2: values per int8 group with one fp32 scale. */
  groupSize: number;
}

/** Header bytes: 7 int32 for v0, a 256-byte padded header for versioned exports. */
const V0_HEADER_BYTES = 28;
const VERSIONED_HEADER_BYTES = 256;

/**
 * The exact byte size a llama2.c file must have for its header, computed in doubles: the
 * counts are int32, so a product past 2^53 is returned as Infinity (no file that large).
 * Throws FILE_CORRUPTED when a version 2 tensor is not a whole number of groups.
 */
export function llama2cExpectedBytes(
  config: LlamaConfig,
  layout: Llama2cLayout,
  what: string,
): number {
  const { dim, hiddenDim: hid, layers, vocabSize: vocab } = config;
  const kvDim = kvDimOf(config);
  const { version, sharedClassifier, groupSize } = layout;
  // (values, how many such tensors) in storage order, norms excluded
  const matrices: Array<[string, number, number]> = [
    ['token embedding', vocab * dim, 1],
    ['wq / wo', dim * dim, 2 * layers],
    ['wk / wv', kvDim * dim, 2 * layers],
    ['w1 / w2 / w3', hid * dim, 3 * layers],
  ];
  if (!sharedClassifier) matrices.push(['classifier', vocab * dim, 1]);
  const norms = (2 * layers + 1) * dim;
  let total: number;
  if (version === 2) {
    total = VERSIONED_HEADER_BYTES + 4 * norms;
    for (const [field, n, times] of matrices) {
      if (groupSize <= 0 || n % groupSize !== 0) {
        fail(
          'FILE_CORRUPTED',
          `${what}: ${field} has ${n} values, not a multiple of the group size ${groupSize}`,
          { field, groupSize },
        );
      }
      total += times * (n + (4 * n) / groupSize);
    }
  } else {
    let values = norms;
    for (const [, n, times] of matrices) values += times * n;
    // v0 keeps two unused legacy RoPE tables of contextLength * headDim / 2 floats each
    if (version === 0) values += config.contextLength * config.headDim;
    total = (version === 0 ? V0_HEADER_BYTES : VERSIONED_HEADER_BYTES) + 4 * values;
  }
  return Number.isSafeInteger(total) ? total : Number.POSITIVE_INFINITY;
}

/**
 * Throws FILE_TRUNCATED (shorter) or FILE_CORRUPTED (longer) unless the file is exactly
 * the size its header implies: a mismatch means the header or the file is damaged, and
 * reading on would load shifted garbage.
 */
export function checkLlama2cSize(
  fileSize: number,
  config: LlamaConfig,
  layout: Llama2cLayout,
  what: string,
): void {
  const expected = llama2cExpectedBytes(config, layout, what);
  if (fileSize < expected) {
    fail(
      'FILE_TRUNCATED',
      `${what} is truncated: its header (version ${layout.version}) implies ${expected} bytes, the file has ${fileSize}`,
      { expected, fileSize },
    );
  }
  if (fileSize > expected) {
    fail(
      'FILE_CORRUPTED',
      `${what} has ${fileSize - expected} bytes more than its header (version ${layout.version}) implies (${expected})`,
      { expected, fileSize },
    );
  }
}
