// End to end in headless Chromium: the demo page loads the model from the shared assets,
// generates with SKVQ on WebGPU, shows plausible memory and quality figures, rejects a bad
// model file and another model's calibration with the SkvqError message, keeps working, and
// generates again with the gpu.js backend chosen in its selector (WebGL2).
import { fileURLToPath } from 'node:url';
import { requireAsset, STORIES_MODEL } from '@skvq/test-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoState } from '../src/demo/main.js';
import { chromiumMissing, openSession, requireCiFeatures, type Session } from './harness.js';

/** Generation + calibration + two perplexity passes on SwiftShader, 2 shared cores. */
const RUN_TIMEOUT_MS = 180_000;
const SCREENSHOT = fileURLToPath(new URL('../docs/screenshot.png', import.meta.url));
/** Settings of the run (the page's defaults, fewer tokens to keep the test short). */
const TOKENS = 96;
const WINDOW = 8;
const SINKS = 5;

const missing = chromiumMissing();

const demoState = (s: Session): Promise<DemoState> => s.page.evaluate(() => window.__skvqDemo);

describe('web demo in headless Chromium', () => {
  if (missing !== undefined) {
    if (requireCiFeatures) {
      it('CI requires the Chromium route (SKVQ_REQUIRE_CI_FEATURES=1)', () => {
        throw new Error(`CI requires headless Chromium for the web demo test: ${missing}`);
      });
    } else {
      it.skip(`[skipped: ${missing}]`, () => {});
    }
    return;
  }

  let session: Session;
  /** The backend the page resolved: webgpu here and in CI; a fallback where there is no adapter. */
  let expectedBackend = 'webgpu';

  beforeAll(async () => {
    requireAsset(STORIES_MODEL); // fails with where it looked when the assets are absent
    session = await openSession();
    session.page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
    await session.page.goto(`${session.url}/`);
    await session.page.waitForFunction(
      () => window.__skvqDemo?.backend !== undefined || window.__skvqDemo?.error !== undefined,
    );
  }, 120_000);

  afterAll(async () => {
    await session?.close();
  });

  it('resolves the WebGPU backend and shows it', async (ctx) => {
    const state = await demoState(session);
    if (state.backend !== 'webgpu') {
      const why = `the page resolved backend ${state.backend} (${state.error ?? 'no WebGPU adapter'})`;
      if (requireCiFeatures) throw new Error(`CI requires WebGPU in headless Chromium: ${why}`);
      // The rest of the file still runs, on the fallback the page resolved.
      expectedBackend = state.backend ?? 'cpu';
      ctx.skip(why);
    }
    // The page shows the backend's label(): its name and the adapter it runs on.
    await expect.poll(() => session.page.textContent('#backend')).toMatch(/^webgpu \(.+\)$/);
  });

  it(
    'generates with SKVQ: streamed text, memory under fp16, classes, perplexity',
    async () => {
      const { page } = session;
      await page.click('#load-url');
      await page.waitForFunction(
        () => window.__skvqDemo.model !== undefined || window.__skvqDemo.error !== undefined,
      );
      expect((await demoState(session)).error).toBeUndefined();
      await page.selectOption('#method', 'skvq');
      await page.selectOption('#key-bits', '2');
      await page.selectOption('#value-bits', '1.5');
      await page.fill('#window', String(WINDOW));
      await page.fill('#sinks', String(SINKS));
      await page.fill('#max-tokens', String(TOKENS));
      await page.click('#generate');
      await page.waitForFunction(
        () => window.__skvqDemo.runs === 1 || window.__skvqDemo.error !== undefined,
        undefined,
        {
          timeout: RUN_TIMEOUT_MS,
        },
      );
      const s = await demoState(session);
      expect(s.error).toBeUndefined();
      expect(s.backend).toBe(expectedBackend);
      // The text appears in the page, token by token.
      expect(s.text.trim().length).toBeGreaterThan(20);
      expect(await page.textContent('#output')).toContain(s.text.trim().slice(0, 20));
      // Memory: what the cache holds, against fp16, shown and plausible.
      const tokens = s.classes.sink + s.classes.window + s.classes.quantized + s.classes.pending;
      expect(tokens).toBeGreaterThan(TOKENS);
      expect(s.fp16Bytes).toBe(tokens * 5 * 2 * 32 * 2); // stories260K: 5 layers, kvHidden 32
      const b = s.breakdown!;
      expect(s.bytes).toBe(b.total);
      expect(b.total).toBe(
        b.codes +
          b.metadata +
          b.positions +
          b.sinks +
          b.window +
          b.keptFp +
          b.permutations +
          b.pageSlack,
      );
      // Codes of a quantized token, per layer: K 32 channels x 2 bits = 8 B, V 32 trits at 5 a
      // byte = 7 B. Metadata: fp8 scale + zero per group of 8 channels = 4 x 2 B per stream.
      // Positions are implicit: one shared Int32 identity of the tokens held (4 B a token).
      // Sinks and window in fp16: >= 2 B/element.
      const layerTokens = s.classes.quantized * 5;
      expect(b.codes).toBe(layerTokens * (8 + 7));
      expect(b.metadata).toBe(layerTokens * 2 * 8);
      expect(b.positions).toBe(tokens * 4);
      const perToken = 5 * 2 * 32; // elements of one token: layers x (K, V) x kvHidden
      expect(b.sinks + b.window).toBeGreaterThanOrEqual((SINKS + WINDOW) * perToken * 2);
      // At 96+ tokens the whole cache, everything counted, is below fp16.
      expect(s.bytes!).toBeLessThan(s.fp16Bytes!);
      expect(s.bitsPerElement!).toBeGreaterThan(1.6);
      expect(s.bitsPerElement!).toBeLessThan(16);
      expect(await page.textContent('#bytes')).toBe(`${s.bytes} B`);
      expect(await page.textContent('#fp16-bytes')).toBe(`${s.fp16Bytes} B`);
      expect(await page.locator('#chart polyline[data-series="cache"]').count()).toBe(1);
      // Sinks, window and quantized tokens are coloured.
      expect(s.classes.sink).toBe(SINKS);
      expect(s.classes.window).toBe(WINDOW);
      expect(s.classes.quantized).toBe(tokens - SINKS - WINDOW);
      expect(await page.locator('#output .tok.quantized').count()).toBe(s.classes.quantized);
      // Perplexity of the generated text under fp32 and under the quantized cache.
      expect(s.pplFp32!).toBeGreaterThan(1);
      expect(s.pplCache!).toBeGreaterThan(1);
      expect(Number.isFinite(s.pplCache!)).toBe(true);
      expect(await page.textContent('#ppl-cache')).toBe(s.pplCache!.toFixed(3));
      console.log(`breakdown: ${JSON.stringify(b)}; timings ${JSON.stringify(s.timings)}`);
      console.log(
        `web demo SKVQ k2 v1.5 on ${s.backend}: ${tokens} tokens, ${s.bytes} B vs fp16 ${s.fp16Bytes} B (${s.bitsPerElement!.toFixed(2)} bits/element), ${s.tokensPerSecond!.toFixed(1)} tokens/s, ppl fp32 ${s.pplFp32!.toFixed(3)} vs SKVQ ${s.pplCache!.toFixed(3)}`,
      );
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    },
    RUN_TIMEOUT_MS + 30_000,
  );

  it('shows the SkvqError of a file that is not a model, and keeps its model', async () => {
    const { page } = session;
    const before = (await demoState(session)).model;
    await page.setInputFiles('#model-file', {
      name: 'notes.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from('this is not a llama2.c checkpoint'),
    });
    await page.setInputFiles('#tokenizer-file', {
      name: 'tok.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(16),
    });
    await page.click('#load-files');
    await page.waitForFunction(
      () => window.__skvqDemo.error !== undefined && !window.__skvqDemo.busy,
    );
    const s = await demoState(session);
    expect(s.error).toMatch(/^FILE_|^INVALID_/);
    expect(await page.isVisible('#error')).toBe(true);
    expect(await page.textContent('#error')).toBe(s.error);
    expect(s.model).toBe(before);
  });

  it(
    "rejects another model's calibration with CALIBRATION_MODEL_MISMATCH, then still generates",
    async () => {
      const { page } = session;
      const json = JSON.parse((await demoState(session)).calibrationJson!);
      json.model = { name: 'other-model', fingerprint: `sha256:${'0'.repeat(64)}` };
      await page.setInputFiles('#calibration-file', {
        name: 'other.json',
        mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify(json)),
      });
      await page.waitForFunction(
        () =>
          window.__skvqDemo.error?.startsWith('CALIBRATION_') === true && !window.__skvqDemo.busy,
      );
      expect(await page.textContent('#error')).toContain('CALIBRATION_MODEL_MISMATCH');
      expect(await page.textContent('#error')).toContain('other-model');
      // The page keeps working: a short fp32 run succeeds and clears the error.
      await page.selectOption('#method', 'fp32');
      await page.fill('#max-tokens', '8');
      await page.click('#generate');
      await page.waitForFunction(
        () =>
          window.__skvqDemo.runs === 2 ||
          (window.__skvqDemo.error !== undefined && !window.__skvqDemo.busy),
        undefined,
        {
          timeout: RUN_TIMEOUT_MS,
        },
      );
      const s = await demoState(session);
      expect(s.error).toBeUndefined();
      expect(s.classes.fp).toBeGreaterThan(8);
    },
    RUN_TIMEOUT_MS + 30_000,
  );

  it(
    'generates with the gpu.js backend chosen (WebGL2), and shows it',
    async () => {
      const { page } = session;
      await page.selectOption('#backend-choice', 'gpujs');
      await page.waitForFunction(
        () =>
          window.__skvqDemo.backend === 'gpujs' ||
          (window.__skvqDemo.error !== undefined && !window.__skvqDemo.busy),
      );
      expect((await demoState(session)).error).toBeUndefined();
      // SKVQ on gpu.js: quantize-and-append and fused attention over its packed pages.
      await page.selectOption('#method', 'skvq');
      await page.selectOption('#key-bits', '2');
      await page.selectOption('#value-bits', '1.5');
      await page.fill('#max-tokens', '24');
      await page.click('#generate');
      await page.waitForFunction(
        () =>
          window.__skvqDemo.runs === 3 ||
          (window.__skvqDemo.error !== undefined && !window.__skvqDemo.busy),
        undefined,
        { timeout: RUN_TIMEOUT_MS },
      );
      const s = await demoState(session);
      expect(s.error).toBeUndefined();
      expect(s.backend).toBe('gpujs');
      expect(s.backendLabel).toBe('gpujs (webgl2)');
      expect(await page.textContent('#backend')).toBe('gpujs (webgl2)');
      expect(s.text.trim().length).toBeGreaterThan(10);
      expect(await page.textContent('#output')).toContain(s.text.trim().slice(0, 10));
      expect(s.classes.quantized).toBeGreaterThan(0);
      console.log(
        `web demo SKVQ k2 v1.5 on ${s.backendLabel}: ${s.text.length} chars, ${s.tokensPerSecond?.toFixed(1)} tokens/s; timings ${JSON.stringify(s.timings)}`,
      );
    },
    RUN_TIMEOUT_MS + 30_000,
  );
});
