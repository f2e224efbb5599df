/** How a cached token is stored, for colouring the text (SKVQ.md section 3). */
export type TokenClass = 'sink' | 'window' | 'quantized' | 'pending' | 'fp';

/** What the classification needs of a cache's layer description. */
export interface LayerCounts {
  tokens: number;
  sinks: number;
  window: number;
  /** Quantized keys (KIVI keys wait full precision for a whole block: `pending`). */
  quantized: number;
  pending: number;
  /** Dense caches: every token full precision. */
  dense: boolean;
}

/**
 * Class of each position 0..tokens-1: sinks first, the window last, pending (a KIVI block
 * still filling) just before the window, quantized in between. The policy keeps the sinks
 * at the front and the window at the end (FIFO), so counts determine positions.
 */
export function classifyPositions(c: LayerCounts): TokenClass[] {
  const out: TokenClass[] = new Array(c.tokens);
  for (let pos = 0; pos < c.tokens; pos++) {
    if (c.dense) out[pos] = 'fp';
    else if (pos < c.sinks) out[pos] = 'sink';
    else if (pos >= c.tokens - c.window) out[pos] = 'window';
    else if (pos >= c.tokens - c.window - c.pending) out[pos] = 'pending';
    else out[pos] = 'quantized';
  }
  return out;
}
