import { defineConfig } from 'tsup';

// Two entries: the package, and the worker script of the threaded backend
// (dist/cpu-worker.js, found next to the module through import.meta.url; the CJS build
// gets import.meta.url from tsup's shims and starts the same ESM worker).
export default defineConfig({
  entry: { index: 'src/index.ts', 'cpu-worker': 'src/threads/cpu-worker.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' } },
  clean: true,
  sourcemap: true,
  shims: true,
});
