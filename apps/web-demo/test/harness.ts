// Serves the app with Vite on 127.0.0.1 and drives the system Chromium with playwright-core.
// Never downloads a browser: CI installs Debian's `chromium` package.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

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

/** Starts the Vite dev server of this app on a free 127.0.0.1 port and opens a page. */
export async function openSession(): Promise<Session> {
  const server: ViteDevServer = await createServer({
    configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)),
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (address === null || address === undefined || typeof address === 'string') {
    await server.close();
    throw new Error('vite dev server did not report a TCP address');
  }
  const url = `http://127.0.0.1:${address.port}`;
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  } catch (error) {
    await server.close();
    throw error;
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  return {
    url,
    browser,
    page,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
