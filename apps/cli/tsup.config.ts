import { defineConfig } from 'tsup';

// Two outputs: the `skvq` executable (bin.js, with a shebang) and the programmatic API
// (index.js + .d.ts) that tests and scripts call. Workspace packages and the native PNG
// renderer stay external: they resolve from node_modules at run time.
export default defineConfig([
  {
    entry: { bin: 'src/bin.ts' },
    format: ['esm'],
    outDir: 'dist',
    clean: true,
    sourcemap: true,
    banner: { js: '#!/usr/bin/env node' },
    external: ['@resvg/resvg-js', 'node-llama-cpp'],
    noExternal: [/^@skvq\//],
  },
  {
    entry: { index: 'src/index.ts' },
    format: ['esm'],
    outDir: 'dist',
    dts: true,
    sourcemap: true,
    external: ['@resvg/resvg-js', 'node-llama-cpp'],
    noExternal: [/^@skvq\//],
  },
]);
