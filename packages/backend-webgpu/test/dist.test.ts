import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// The built package must load both as ESM and as CommonJS without touching a GPU (no import
// side effects: `webgpu` is imported lazily by init()). pnpm test builds first.
const dist = join(import.meta.dirname, '..', 'dist');

describe('built output', () => {
  it('exists (run pnpm build first)', () => {
    expect(existsSync(join(dist, 'index.js')), `no ${dist}/index.js; run pnpm build`).toBe(true);
    expect(existsSync(join(dist, 'index.d.ts'))).toBe(true);
    expect(existsSync(join(dist, 'index.d.cts'))).toBe(true);
  });

  it('loads as ESM and CJS with the same exports', () => {
    const esm = execFileSync(process.execPath, [
      '--input-type=module',
      '-e',
      `import * as m from ${JSON.stringify(join(dist, 'index.js'))}; console.log(Object.keys(m).sort().join(','))`,
    ]).toString();
    const cjs = execFileSync(process.execPath, [
      '-e',
      `console.log(Object.keys(require(${JSON.stringify(join(dist, 'index.cjs'))})).sort().join(','))`,
    ]).toString();
    expect(esm).toContain('createWebgpuBackend');
    expect(cjs).toBe(esm);
  });
});
