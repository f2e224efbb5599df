// Tests import the package from its TypeScript sources, where there is no built
// cpu-worker.js: this bundles src/threads/cpu-worker.ts (and the sibling packages' sources it
// imports) with esbuild into a temporary file, so the workers run the code under test.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';

const packages = join(import.meta.dirname, '..', '..');
let bundled: URL | undefined;

export function workerUrlFromSources(): URL {
  if (bundled !== undefined) return bundled;
  const outfile = join(mkdtempSync(join(tmpdir(), 'skvq-cpu-worker-')), 'cpu-worker.mjs');
  buildSync({
    entryPoints: [join(packages, 'backend-cpu', 'src', 'threads', 'cpu-worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    alias: {
      '@skvq/core': join(packages, 'core', 'src', 'index.ts'),
      '@skvq/formats': join(packages, 'formats', 'src', 'index.ts'),
    },
    logLevel: 'error',
  });
  bundled = pathToFileURL(outfile);
  return bundled;
}
