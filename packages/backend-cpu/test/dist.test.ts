import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describeBuiltPackage } from '@skvq/vitest-preset/dist';
import { describe, expect, it } from 'vitest';

const packageDir = join(import.meta.dirname, '..');
describeBuiltPackage(packageDir, 'createCpuBackend');

/**
 * A threaded decode from the built package, as ESM and as CommonJS, in a fresh Node: the
 * worker script (dist/cpu-worker.js) must be found next to the module and load, and the
 * process must exit afterwards without dispose() (idle workers do not hold it open).
 */
function script(load: string): string {
  return `${load}
const g = { layers: 1, queryHeads: 4, kvHeads: 2, headDim: 16, rope: { style: 'pairwise', theta: 10000 } };
const length = 301;
const channels = 32;
const data = new Float32Array(new SharedArrayBuffer(4 * length * channels));
for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
const seg = { kind: 'fp', precision: 'fp32', count: length, data, positions: Int32Array.from({ length }, (_, i) => i) };
const job = { q: new Float32Array(64).map((_, i) => Math.cos(i)), start: length, rows: 1, causal: false, keys: [seg], values: [seg], length };
const attrs = { geometry: g, keysPreRope: true };
const one = m.createCpuBackend({ threads: 1 }).kernels.attend(job, attrs);
const threaded = m.createCpuBackend({ threads: 2, minWorkPerThread: 1 });
const pending = threaded.kernels.attend(job, attrs);
Promise.resolve(pending).then((out) => {
  let d = 0;
  for (let i = 0; i < out.length; i++) d = Math.max(d, Math.abs(out[i] - one[i]));
  console.log(JSON.stringify({ promise: pending instanceof Promise, label: threaded.label(), d }));
});`;
}

describe('threaded backend from the built package', () => {
  for (const [format, load, args] of [
    [
      'ESM',
      `const m = await import(${JSON.stringify(join(packageDir, 'dist', 'index.js'))});`,
      // Flags Node refuses in a worker (--input-type, V8's heap size) are not passed on.
      ['--input-type=module', '--max-old-space-size=512'],
    ],
    ['CJS', `const m = require(${JSON.stringify(join(packageDir, 'dist', 'index.cjs'))});`, []],
  ] as const) {
    it(`${format}: starts dist/cpu-worker.js, matches one thread, and exits without dispose`, () => {
      const out = execFileSync(process.execPath, [...args, '-e', script(load)], {
        timeout: 30_000,
      }).toString();
      const result = JSON.parse(out.trim()) as { promise: boolean; label: string; d: number };
      expect(result.promise).toBe(true);
      expect(result.label).toMatch(/, 2 threads\)$/);
      expect(result.d).toBeLessThan(1e-5);
    });
  }
});
