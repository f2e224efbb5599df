// Serves the app with Vite on 127.0.0.1 and drives the system Chromium with playwright-core.
// Never downloads a browser: CI installs Debian's `chromium` package.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';

/** Where Debian's chromium package puts the browser; SKVQ_CHROMIUM overrides it. */
export const CHROMIUM_PATH = process.env.SKVQ_CHROMIUM ?? '/usr/bin/chromium';

/** Headless flags: WebGPU through SwiftShader (unsafe-webgpu: Linux ships WebGPU behind it). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

/** CI sets this so that a missing browser or adapter fails instead of skipping. */
export const requireCiFeatures = process.env.SKVQ_REQUIRE_CI_FEATURES === '1';

/** Why the browser route cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH)
    ? undefined
    : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set SKVQ_CHROMIUM)`;
}

export interface Session {
  url: string;
  browser: Browser;
  page: Page;
  close(): Promise<void>;
}

const CONFIG_FILE = fileURLToPath(new URL('../vite.config.ts', import.meta.url));

/**
 * Builds the app (the production bundle users get) into a private temporary folder, so test
 * files running in parallel never share an output, and serves it with `vite preview` on a
 * free 127.0.0.1 port (the preview server also maps /assets/* to the shared assets).
 */
async function buildAndServe(): Promise<{ server: PreviewServer; outDir: string }> {
  const outDir = mkdtempSync(join(tmpdir(), 'skvq-web-demo-'));
  await build({ configFile: CONFIG_FILE, logLevel: 'error', build: { outDir, emptyOutDir: true } });
  const server = await preview({
    configFile: CONFIG_FILE,
    logLevel: 'error',
    build: { outDir },
    preview: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  return { server, outDir };
}

/** Builds and serves this app, launches the system Chromium and opens a page. */
export async function openSession(): Promise<Session> {
  const { server, outDir } = await buildAndServe();
  const stop = async () => {
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
  };
  const address = server.httpServer.address();
  if (address === null || typeof address === 'string') {
    await stop();
    throw new Error('vite preview server did not report a TCP address');
  }
  const url = `http://127.0.0.1:${address.port}`;
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      headless: true,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  return {
    url,
    browser,
    page,
    async close() {
      await browser.close();
      await stop();
    },
  };
}
