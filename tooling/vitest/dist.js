// Shared test: a package's built output (pnpm test builds first) must exist and load both
// as ESM and as CommonJS with the same exports.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * @param {string} packageDir absolute path of the package (import.meta.dirname + '/..')
 * @param {string} expectedExport a name the package must export
 */
export function describeBuiltPackage(packageDir, expectedExport) {
  const dist = join(packageDir, 'dist');
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
      expect(esm.trim().split(',')).toContain(expectedExport);
      expect(cjs).toBe(esm);
    });
  });
}
