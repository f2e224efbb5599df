import { defineConfig } from 'tsup';

export default defineConfig({
  // internal.ts: for this package's scripts (gpu-bench.mjs); not in package.json exports.
  entry: ['src/index.ts', 'src/internal.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  // The addon and the kernel images are found relative to this module: import.meta.url in
  // ESM, and tsup's shim of it in the CommonJS build.
  shims: true,
});
