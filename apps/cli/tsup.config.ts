import { defineConfig } from 'tsup';

// Two outputs: the `skvq` executable (bin.js, with a shebang) and the programmatic API
// (index.js + .d.ts) that tests and scripts call. Workspace packages are bundled; the native
// PNG renderer and the GPU runtimes (webgpu's dawn.node, gpu.js with its optional headless-gl)
// stay external: they resolve from node_modules at run time, and only when used.
export default defineConfig([
  {
    // cpu-worker.js: the CPU backend's worker threads, found beside the bundle that starts
    // them (import.meta.url of dist/*.js).
    entry: {
      bin: 'src/bin.ts',
      'cpu-worker': '../../packages/backend-cpu/src/threads/cpu-worker.ts',
    },
    format: ['esm'],
    outDir: 'dist',
    clean: true,
    sourcemap: true,
    banner: { js: '#!/usr/bin/env node' },
    external: [
      '@resvg/resvg-js',
      'node-llama-cpp',
      'webgpu',
      'gpu.js',
      '@huggingface/transformers',
    ],
    noExternal: [/^@skvq\//],
  },
  {
    entry: { index: 'src/index.ts' },
    format: ['esm'],
    outDir: 'dist',
    dts: true,
    sourcemap: true,
    external: [
      '@resvg/resvg-js',
      'node-llama-cpp',
      'webgpu',
      'gpu.js',
      '@huggingface/transformers',
    ],
    noExternal: [/^@skvq\//],
  },
]);
