import { type FilterRule, SkvqError } from '@skvq/core';

export const HEAVY_HITTER_RULE_NAME = 'heavy-hitter';

export interface HeavyHitterOptions {
  /**
   * Quantile in [0, 1): a token is kept when its accumulated attention is in the top
   * `1 - quantile` fraction of the tokens seen so far (0.9 keeps the top 10 %).
   */
  quantile: number;
  /** Rule name (distinct names let one policy hold several heavy-hitter rules). */
  name?: string;
}

/** A heavy-hitter rule plus read access to what it accumulated (for tests and inspection). */
export interface HeavyHitterRule extends FilterRule {
  readonly quantile: number;
  /** Accumulated attention of `position` (0 for positions never observed). */
  mass(position: number): number;
  /** Positions observed so far (the largest `length` passed to observeAttention). */
  readonly seen: number;
}

/** Smallest capacity of the growing mass buffer (positions), to avoid tiny reallocations. */
const INITIAL_CAPACITY = 64;

/**
 * Heavy-hitter filter rule (H2O-style, SKVQ.md section 3, "pluggable rules").
 *
 * Definition: `observeAttention(sums, length)` adds `sums[p]` (the attention mass that
 * position p received in the last attention read, summed over heads and queries) to the
 * accumulated mass A[p] for p < length; `seen` becomes max(seen, length). When a token at
 * `position` leaves the window, `keeps(position)` is true iff A[position] > 0 and fewer than
 * `ceil((1 - quantile) * seen)` of the seen positions have a strictly larger A, i.e. it is
 * in the top `1 - quantile` fraction (ties resolved in the token's favour). A token never
 * attended to (A = 0, e.g. quantized during a window-0 prefill before any attention read)
 * is never kept. The rule stores one float64 per position, never K/V data.
 */
export function heavyHitterRule(options: HeavyHitterOptions): HeavyHitterRule {
  const quantile = options?.quantile;
  if (typeof quantile !== 'number' || !(quantile >= 0 && quantile < 1)) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `heavyHitterRule: quantile is ${String(quantile)}; expected a number in [0, 1)`,
      { details: { quantile } },
    );
  }
  let mass = new Float64Array(INITIAL_CAPACITY);
  let seen = 0;

  const ensure = (length: number) => {
    if (length <= mass.length) return;
    const grown = new Float64Array(Math.max(length, 2 * mass.length));
    grown.set(mass);
    mass = grown;
  };

  return {
    name: options.name ?? HEAVY_HITTER_RULE_NAME,
    quantile,
    get seen() {
      return seen;
    },
    mass: (position) => (position < seen ? (mass[position] as number) : 0),
    observeAttention(sums, length) {
      if (!Number.isInteger(length) || length < 0 || length > sums.length) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `heavyHitterRule.observeAttention: length ${String(length)} must be an integer in [0, ${sums.length}] (sums.length)`,
          { details: { length, available: sums.length } },
        );
      }
      ensure(length);
      for (let p = 0; p < length; p++) {
        const s = sums[p] as number;
        if (!Number.isFinite(s) || s < 0) {
          throw new SkvqError(
            'NON_FINITE_INPUT',
            `heavyHitterRule.observeAttention: sums[${p}] is ${s}; attention mass must be finite and >= 0`,
            { details: { index: p, value: s } },
          );
        }
        mass[p] = (mass[p] as number) + s;
      }
      if (length > seen) seen = length;
    },
    keeps(position) {
      if (position >= seen) return false;
      const own = mass[position] as number;
      if (!(own > 0)) return false;
      const budget = Math.ceil((1 - quantile) * seen);
      let larger = 0;
      for (let p = 0; p < seen; p++) {
        if ((mass[p] as number) > own && ++larger >= budget) return false;
      }
      return larger < budget;
    },
    reset() {
      mass.fill(0);
      seen = 0;
    },
  };
}
