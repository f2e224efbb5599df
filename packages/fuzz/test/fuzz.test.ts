import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM JavaScript (the fuzz harness runs in child processes as is)
import { FAILURES, runFuzz } from '../src/run.mjs';

/**
 * The CI share of issue 13's fuzzing: fixed seeds, a few hundred mutated inputs per kind,
 * every case in a memory-capped child process (a crash, a hang or an allocation storm is a
 * counted failure, never a dead runner). `pnpm fuzz` runs the long version with any seed.
 */

const SEED = 20261202;
const CASES = 400;
const CI_KINDS = [
  'gguf',
  'llama2c',
  'tokenizer',
  'calibration',
  'cache-api',
  'saved-cache',
  'cache-outliers',
];

describe('fuzz (CI budget, fixed seed)', () => {
  it.each(CI_KINDS)('%s: only typed errors or usable results', async (kind) => {
    const report = await runFuzz({ kinds: [kind], seed: SEED, cases: CASES });
    const r = report.kinds[kind];
    expect(r.cases).toBe(CASES);
    const failures = Object.fromEntries(FAILURES.map((f: string) => [f, r[f]]));
    expect(failures, JSON.stringify(r.samples, null, 1)).toEqual(
      Object.fromEntries(FAILURES.map((f: string) => [f, 0])),
    );
    // the mutations reach the validation: most inputs are refused, some still accepted
    expect(Object.values(r.codes).reduce((a: number, b) => a + (b as number), 0) + r.ok).toBe(
      CASES - r.skipped,
    );
  });

  it('the harness counts a crash, an allocation storm, a hang and an untyped error', async () => {
    const report = await runFuzz({ kinds: ['selftest'], seed: 1, cases: 8, caseTimeoutMs: 2000 });
    const r = report.kinds.selftest;
    expect(r).toMatchObject({ cases: 8, ok: 4, crash: 1, oversized: 1, hang: 1, untyped: 1 });
  });
});
