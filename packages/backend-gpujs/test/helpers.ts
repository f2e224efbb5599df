import { describeError } from '@skvq/core';
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
