import { mulberry32, SkvqError } from '@skvq/core';
import { assertInt, invalid } from './validate.js';

/** Defaults: seed of the PRNG, restarts (sklearn's classic n_init = 10), Lloyd cap. */
export const DEFAULT_KMEANS_SEED = 0x5eed;
export const DEFAULT_KMEANS_RESTARTS = 10;
export const DEFAULT_KMEANS_MAX_ITERATIONS = 100;

export interface KMeansOptions {
  seed?: number;
  restarts?: number;
  maxIterations?: number;
}

export interface KMeansResult {
  k: number;
  /** Cluster of each point. */
  assignments: Uint32Array;
  /** [k, 2] centroids (x, y) as float64. Empty clusters keep their last centroid. */
  centroids: Float64Array;
  /** Points per cluster (may be 0 with duplicate points). */
  sizes: Uint32Array;
  /** Sum of squared distances of the best restart. */
  objective: number;
  /** Objective after each assignment step of the best restart (non-increasing). */
  objectives: Float64Array;
  /** Index of the restart that won (for reports). */
  restart: number;
}

function sqDist(points: Float64Array, i: number, centroids: Float64Array, c: number): number {
  const dx = points[2 * i]! - centroids[2 * c]!;
  const dy = points[2 * i + 1]! - centroids[2 * c + 1]!;
  return dx * dx + dy * dy;
}

/**
 * k-means++ seeding (Arthur and Vassilvitskii 2007): the first centre uniform, each next one
 * drawn with probability proportional to D(x)^2. When every remaining D is 0 (duplicates),
 * the next centre is the lowest-index point not yet chosen, so seeding stays deterministic.
 */
function seedCentroids(points: Float64Array, n: number, k: number, random: () => number) {
  const centroids = new Float64Array(2 * k);
  const chosen = new Uint8Array(n);
  const d2 = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  let pick = Math.min(Math.floor(random() * n), n - 1);
  for (let c = 0; c < k; c++) {
    if (c > 0) {
      let total = 0;
      for (let i = 0; i < n; i++) total += d2[i]!;
      pick = -1;
      if (total > 0) {
        let r = random() * total;
        for (let i = 0; i < n; i++) {
          r -= d2[i]!;
          if (r < 0 && d2[i]! > 0) {
            pick = i;
            break;
          }
        }
        // Rounding can leave r >= 0 after the loop: take the last point with positive weight.
        if (pick < 0) for (let i = n - 1; i >= 0 && pick < 0; i--) if (d2[i]! > 0) pick = i;
      } else {
        pick = chosen.indexOf(0);
        if (pick < 0) pick = 0;
      }
    }
    chosen[pick] = 1;
    centroids[2 * c] = points[2 * pick]!;
    centroids[2 * c + 1] = points[2 * pick + 1]!;
    for (let i = 0; i < n; i++) {
      const d = sqDist(points, i, centroids, c);
      if (d < d2[i]!) d2[i] = d;
    }
  }
  return centroids;
}

/**
 * Assigns each point to its nearest centroid. A point moves only on a strict improvement
 * over its current cluster (ties keep it; first run: lowest index), so Lloyd cannot cycle.
 * Returns the objective and whether anything moved.
 */
function assign(
  points: Float64Array,
  n: number,
  k: number,
  centroids: Float64Array,
  assignments: Int32Array,
): { objective: number; changed: boolean } {
  let objective = 0;
  let changed = false;
  for (let i = 0; i < n; i++) {
    const current = assignments[i]!;
    let best = current;
    let bestD = current >= 0 ? sqDist(points, i, centroids, current) : Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const d = sqDist(points, i, centroids, c);
      if (d < bestD) {
        bestD = d;
        best = c;
      }
    }
    if (best !== current) {
      assignments[i] = best;
      changed = true;
    }
    objective += bestD;
  }
  return { objective, changed };
}

/**
 * Moves each centroid to the mean of its points. An empty cluster is re-seeded on the
 * point farthest from its centroid (lowest index on ties) if that distance is positive;
 * nobody is assigned to it yet, so the objective is unchanged by the move and the next
 * assignment can only lower it. With all remaining distances 0 (duplicates) it stays empty.
 */
function update(
  points: Float64Array,
  n: number,
  k: number,
  centroids: Float64Array,
  assignments: Int32Array,
): void {
  const sum = new Float64Array(2 * k);
  const size = new Uint32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignments[i]!;
    sum[2 * c] = sum[2 * c]! + points[2 * i]!;
    sum[2 * c + 1] = sum[2 * c + 1]! + points[2 * i + 1]!;
    size[c]!++;
  }
  const taken = new Uint8Array(n);
  for (let c = 0; c < k; c++) {
    if (size[c]! > 0) {
      centroids[2 * c] = sum[2 * c]! / size[c]!;
      centroids[2 * c + 1] = sum[2 * c + 1]! / size[c]!;
    }
  }
  for (let c = 0; c < k; c++) {
    if (size[c]! > 0) continue;
    let far = -1;
    let farD = 0;
    for (let i = 0; i < n; i++) {
      if (taken[i]) continue;
      const d = sqDist(points, i, centroids, assignments[i]!);
      if (d > farD) {
        farD = d;
        far = i;
      }
    }
    if (far < 0) continue;
    taken[far] = 1;
    centroids[2 * c] = points[2 * far]!;
    centroids[2 * c + 1] = points[2 * far + 1]!;
  }
}

/** One Lloyd run from k-means++ seeds; stops when nothing moves or at the cap. */
function lloyd(
  points: Float64Array,
  n: number,
  k: number,
  random: () => number,
  maxIterations: number,
) {
  let centroids = seedCentroids(points, n, k, random);
  let assignments = new Int32Array(n).fill(-1);
  let { objective } = assign(points, n, k, centroids, assignments);
  const objectives = [objective];
  for (let it = 0; it < maxIterations; it++) {
    const nextCentroids = centroids.slice();
    update(points, n, k, nextCentroids, assignments);
    const nextAssignments = assignments.slice();
    const step = assign(points, n, k, nextCentroids, nextAssignments);
    // In exact arithmetic a Lloyd step never raises the objective; should float rounding of
    // the means ever make it rise, stop and keep the better state (the recorded curve is
    // therefore non-increasing by construction, as the contract promises).
    if (step.objective > objective) break;
    centroids = nextCentroids;
    assignments = nextAssignments;
    objective = step.objective;
    objectives.push(objective);
    if (!step.changed) break;
  }
  return { centroids, assignments, objective, objectives };
}

/**
 * Deterministic k-means on 2-D points `points` = [n, 2] (x0, y0, x1, y1, ...): k-means++
 * seeding from mulberry32(seed), `restarts` independent runs drawing from the same stream,
 * the run with the lowest objective wins (the earliest on ties). Same inputs and options give
 * the same result on every machine.
 */
export function kmeans2d(
  points: Float64Array,
  k: number,
  options: KMeansOptions = {},
): KMeansResult {
  const where = 'kmeans2d';
  if (points.length % 2 !== 0) invalid(where, `points length ${points.length} is not [n, 2]`);
  const n = points.length / 2;
  assertInt(k, 1, 'k', where);
  if (k > n) invalid(where, `k ${k} exceeds the number of points ${n}`, { k, n });
  for (let i = 0; i < points.length; i++) {
    if (!Number.isFinite(points[i]!)) {
      throw new SkvqError('NON_FINITE_INPUT', `${where}: points[${i}] is ${points[i]}`, {
        details: { index: i, value: points[i] },
      });
    }
  }
  const seed = options.seed ?? DEFAULT_KMEANS_SEED;
  if (!Number.isInteger(seed)) invalid(where, `seed ${String(seed)} must be an integer`);
  const restarts = assertInt(options.restarts ?? DEFAULT_KMEANS_RESTARTS, 1, 'restarts', where);
  const maxIterations = assertInt(
    options.maxIterations ?? DEFAULT_KMEANS_MAX_ITERATIONS,
    0,
    'maxIterations',
    where,
  );
  const random = mulberry32(seed);
  let best: ReturnType<typeof lloyd> | null = null;
  let bestRestart = 0;
  for (let r = 0; r < restarts; r++) {
    const run = lloyd(points, n, k, random, maxIterations);
    if (best === null || run.objective < best.objective) {
      best = run;
      bestRestart = r;
    }
  }
  const winner = best!;
  const sizes = new Uint32Array(k);
  for (let i = 0; i < n; i++) sizes[winner.assignments[i]!]!++;
  return {
    k,
    assignments: Uint32Array.from(winner.assignments),
    centroids: winner.centroids,
    sizes,
    objective: winner.objective,
    objectives: Float64Array.from(winner.objectives),
    restart: bestRestart,
  };
}
