import { describeError } from '@skvq/core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { createGpujsBackend, type GpujsBackend, type GpujsMode } from '../src/index.js';
import { ensureDisplay } from './display.js';

export interface ModeProbe {
  mode: GpujsMode;
  backend?: GpujsBackend;
  reason: string;
}

/**
 * A backend that must run in `mode` (init() fails if gpu.js would silently fall back), or
 * the reason it cannot here. headless-gl gets an Xvfb display when none is set.
 */
export async function probeMode(mode: GpujsMode): Promise<ModeProbe> {
  if (mode === 'headlessgl') {
    const display = await ensureDisplay();
    if (!display.ok) return { mode, reason: display.reason };
  }
  const backend = createGpujsBackend({ mode, require: mode });
  try {
    await backend.init?.();
    return { mode, backend, reason: `gpu.js runs in mode ${backend.mode()}` };
  } catch (error) {
    return { mode, reason: describeError(error) };
  }
}

const required = process.env.SKVQ_REQUIRE_CI_FEATURES === '1';

/**
 * describe() once per Node mode (cpu, webasm, headlessgl): runs with a backend that must really be
 * in that mode, skips visibly where headless-gl is unavailable, and fails instead in CI
 * (SKVQ_REQUIRE_CI_FEATURES=1), which provides the gl build and Xvfb.
 */
export async function describeModes(
  name: string,
  body: (backend: GpujsBackend, mode: GpujsMode) => void,
  options: { maxSliceTokens?: number } = {},
): Promise<void> {
  for (const mode of ['cpu', 'webasm', 'headlessgl'] as const) {
    const probe = await probeMode(mode);
    probe.backend?.dispose();
    if (probe.backend === undefined) {
      if (required) {
        test(`${name} [${mode}]: required by CI (SKVQ_REQUIRE_CI_FEATURES=1)`, () => {
          throw new Error(probe.reason);
        });
      } else {
        describe.skip(`${name} [${mode}] — skipped: ${probe.reason}`, () => {
          test(`needs gpu.js mode ${mode}`, () => {});
        });
      }
      continue;
    }
    const backend = createGpujsBackend({ mode, require: mode, ...options });
    describe(`${name} [${mode}]`, () => {
      beforeAll(() => backend.init());
      afterAll(() => backend.dispose());
      body(backend, mode);
    });
  }
}
