import { defineConfig } from 'tsup';

// The benchmarks run as plain Node ESM; workspace packages resolve to their built dist.
export default defineConfig({
  entry: ['src/main.ts', 'src/storage-bits.ts', 'src/cpu-decode-main.ts'],
  format: ['esm'],
  outDir: 'dist',
  clean: true,
  external: ['onnxruntime-node', /^@skvq\//],
});
