// Query parameters of bench.html, validated at the edge: a typo never silently benchmarks
// something other than what was asked for.

/** Contestants the page can time, as `?contestants=` names them. `cpu` is always the base. */
export const BENCH_CONTESTANTS = ['cpu', 'gpujs', 'webgpu'] as const;
export type BenchContestant = (typeof BENCH_CONTESTANTS)[number];

/** The lengths of issue 8 (4k and 32k tokens) and the node bench's default rounds. */
export const DEFAULT_LENGTHS = [4096, 32768];
export const DEFAULT_REPS = 3;
/**
 * A contestant whose step takes longer than this (measured in its warm-up, or predicted
 * linearly from the previous length) is not timed at that length: issue 8 reports only
 * the shorter length for a mode that needs over two minutes per decode step.
 */
export const DEFAULT_MAX_STEP_MS = 120_000;
/** The bench streams hold 5 sinks + 128 window tokens beside the pages: at least one page row. */
export const MIN_LENGTH = 134;

export interface BenchParams {
  lengths: number[];
  reps: number;
  contestants: BenchContestant[];
  maxStepMs: number;
}

function positiveInts(name: string, text: string, min: number): number[] {
  const values = text.split(',').map((part) => Number(part.trim()));
  for (const v of values) {
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`?${name}=${text}: expected comma-separated integers >= ${min}`);
    }
  }
  return values;
}

function positiveInt(name: string, text: string, min: number): number {
  const values = positiveInts(name, text, min);
  if (values.length !== 1) throw new Error(`?${name}=${text}: expected one integer >= ${min}`);
  return values[0] as number;
}

/** Parses `?lengths=4096,32768&reps=3&contestants=cpu,gpujs,webgpu&maxStepMs=120000`. */
export function parseBenchParams(search: string): BenchParams {
  const query = new URLSearchParams(search);
  const lengthsText = query.get('lengths');
  const repsText = query.get('reps');
  const maxText = query.get('maxStepMs');
  const contestantsText = query.get('contestants');
  const contestants =
    contestantsText === null
      ? [...BENCH_CONTESTANTS]
      : contestantsText.split(',').map((name) => {
          if (!BENCH_CONTESTANTS.includes(name as BenchContestant)) {
            throw new Error(
              `?contestants=${contestantsText}: unknown "${name}"; expected ${BENCH_CONTESTANTS.join(', ')}`,
            );
          }
          return name as BenchContestant;
        });
  // Ratios are to the CPU backend measured in the same run: it always runs, first.
  const ordered = ['cpu' as const, ...contestants.filter((c) => c !== 'cpu')];
  return {
    lengths:
      lengthsText === null ? DEFAULT_LENGTHS : positiveInts('lengths', lengthsText, MIN_LENGTH),
    reps: repsText === null ? DEFAULT_REPS : positiveInt('reps', repsText, 1),
    contestants: ordered,
    maxStepMs: maxText === null ? DEFAULT_MAX_STEP_MS : positiveInt('maxStepMs', maxText, 1),
  };
}
