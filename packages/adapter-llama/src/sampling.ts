import { fail } from './errors.js';

/** Index of the largest logit (first one on ties, as run.c's argmax). */
export function argmax(logits: Float32Array, offset = 0, length = logits.length - offset): number {
  let best = 0;
  let bestValue = logits[offset] as number;
  for (let i = 1; i < length; i++) {
    const v = logits[offset + i] as number;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/**
 * Samples a token: temperature 0 is greedy; otherwise softmax(logits / temperature), kept
 * to the smallest set of most likely tokens whose mass reaches topP (nucleus, run.c).
 */
export function sampleToken(
  logits: Float32Array,
  temperature: number,
  topP: number,
  rng: () => number,
): number {
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    fail('INVALID_ARGUMENT', `temperature must be a finite number >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) fail('INVALID_ARGUMENT', `topP must be in (0, 1], got ${topP}`);
  if (temperature === 0) return argmax(logits);
  const n = logits.length;
  const probs = new Float64Array(n);
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, (logits[i] as number) / temperature);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.exp((logits[i] as number) / temperature - max);
    probs[i] = p;
    sum += p;
  }
  for (let i = 0; i < n; i++) probs[i] = (probs[i] as number) / sum;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (x, y) => (probs[y] as number) - (probs[x] as number),
  );
  let kept = 0;
  let mass = 0;
  while (kept < n && mass < topP) mass += probs[order[kept++] as number] as number;
  let r = rng() * mass;
  for (let i = 0; i < kept; i++) {
    r -= probs[order[i] as number] as number;
    if (r <= 0) return order[i] as number;
  }
  return order[kept - 1] as number;
}

/** log softmax(logits)[target], computed in float64. */
export function logProb(
  logits: Float32Array,
  offset: number,
  length: number,
  target: number,
): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < length; i++) max = Math.max(max, logits[offset + i] as number);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp((logits[offset + i] as number) - max);
  return (logits[offset + target] as number) - max - Math.log(sum);
}
