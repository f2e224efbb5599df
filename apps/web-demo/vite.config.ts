import { createReadStream, existsSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceAliases } from '@skvq/vitest-preset';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/** The shared assets folder: $SKVQ_ASSETS, else ../shared beside the repository (as tests do). */
export function assetsFolder(): string {
  return process.env.SKVQ_ASSETS
    ? resolve(process.env.SKVQ_ASSETS)
    : resolve(here, '..', '..', '..', 'shared');
}

/**
 * Serves /assets/<path> from the shared assets folder in dev and preview, so the page can
 * fetch the model, tokenizer and stories without copying them into the repository.
 */
function sharedAssets(): Plugin {
  const root = assetsFolder();
  const middleware = (
    req: { url?: string },
    res: {
      statusCode: number;
      setHeader(k: string, v: string | number): void;
      end(b?: string): void;
    } & NodeJS.WritableStream,
    next: () => void,
  ): void => {
    const url = req.url?.split('?')[0] ?? '';
    if (!url.startsWith('/assets/')) {
      next();
      return;
    }
    const path = resolve(root, decodeURIComponent(url.slice('/assets/'.length)));
    // Only files inside the assets folder; anything else falls through (Vite's own /assets).
    if (!path.startsWith(root + sep) || !existsSync(path) || !statSync(path).isFile()) {
      next();
      return;
    }
    res.statusCode = 200;
    res.setHeader('Content-Length', statSync(path).size);
    res.setHeader('Content-Type', 'application/octet-stream');
    createReadStream(path).pipe(res);
  };
  return {
    name: 'skvq-shared-assets',
    configureServer(server) {
      server.middlewares.use(middleware as never);
    },
    configurePreviewServer(server) {
      server.middlewares.use(middleware as never);
    },
  };
}

export default defineConfig({
  root: here,
  // Workspace packages from their TypeScript sources: the page never depends on a stale dist.
  resolve: { alias: sourceAliases() },
  plugins: [sharedAssets()],
  server: { host: '127.0.0.1', strictPort: false },
  preview: { host: '127.0.0.1' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Built files go under /static so they never shadow the shared /assets route.
    assetsDir: 'static',
    target: 'es2022',
    // gpu.js's browser bundle (~630 kB minified) is a chunk of its own, loaded only when the
    // gpu.js backend initialises; no chunk the page loads up front comes near this limit.
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      input: {
        main: resolve(here, 'index.html'),
        conformance: resolve(here, 'conformance.html'),
        bench: resolve(here, 'bench.html'),
      },
      // backend-webgpu imports Node's `webgpu` package only when navigator.gpu is absent.
      external: ['webgpu'],
    },
  },
});
