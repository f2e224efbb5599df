import { ATTENTION_RELATIVE_TOLERANCE, benchRows, relativeError } from '@skvq/backend-conformance';
import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type AttentionAttrs,
  type BackendPlugin,
  type KvGeometry,
  transferStatsOf,
} from '@skvq/core';
import { expect, test } from 'vitest';
import { describeModes } from './helpers.js';
import {
  buildStepCache,
  hostDecodeStep,
  type StepCache,
  storeDecodeStep,
  WINDOW,
} from './store-cache.js';

// Small geometry (2 heads x 16, GQA-free), RoPE on pre-RoPE keys: the point is what a
// decode step moves between host and device, which must not depend on how many tokens
// the cache holds once KV pages live in the backend's storage.
const GEOMETRY: KvGeometry = {
  layers: 1,
  queryHeads: 2,
  kvHeads: 2,
  headDim: 16,
  rope: { style: 'pairwise', theta: 10000 },
};
const ATTRS: AttentionAttrs = { geometry: GEOMETRY, keysPreRope: true };
const CHANNELS = 32;
const LENGTHS = [4096, 32768];

async function measured(backend: BackendPlugin, run: () => Promise<Float32Array>) {
  const before = transferStatsOf(backend);
  const out = await run();
  const after = transferStatsOf(backend);
  return {
    out,
    up: after.bytesToDevice - before.bytesToDevice,
    down: after.bytesFromDevice - before.bytesFromDevice,
  };
}

await describeModes('one decode step over backend-owned storage', (backend, mode) => {
  test('moves the same bytes at 4k and 32k cached tokens (and matches the reference)', async () => {
    const store: { up: number; down: number }[] = [];
    const host: { up: number; down: number }[] = [];
    for (const length of LENGTHS) {
      const cache: StepCache = buildStepCache(backend.storage!, CHANNELS, length);
      const q = benchRows(7, 1, CHANNELS);
      // Step 0 warms up: kernels compile, the decode, layout and RoPE tables are uploaded.
      await storeDecodeStep(backend, cache, 0, q, ATTRS);
      const s = await measured(backend, () => storeDecodeStep(backend, cache, 1, q, ATTRS));
      const h = await measured(backend, () => hostDecodeStep(backend, cache, 1, q, ATTRS));
      const want = await hostDecodeStep(cpuReferenceBackend, cache, 1, q, ATTRS);
      expect(relativeError(s.out, want), `store, ${length}`).toBeLessThanOrEqual(
        ATTENTION_RELATIVE_TOLERANCE,
      );
      expect(relativeError(h.out, want), `host, ${length}`).toBeLessThanOrEqual(
        ATTENTION_RELATIVE_TOLERANCE,
      );
      store.push({ up: s.up, down: s.down });
      host.push({ up: h.up, down: h.down });
      console.info(
        `gpujs ${mode}: decode step at ${length} tokens (window ${WINDOW + 2}): store ${s.up} B up / ${s.down} B down; host arrays ${h.up} B up / ${h.down} B down`,
      );
    }
    const [s4, s32] = store as [{ up: number; down: number }, { up: number; down: number }];
    const [h4, h32] = host as [{ up: number; down: number }, { up: number; down: number }];
    expect(s4.up).toBeGreaterThan(0);
    expect(s4.down).toBeGreaterThan(0);
    expect(s32).toEqual(s4);
    // The host-array path uploads every slice it reads: it grows with the context.
    expect(h32.up).toBeGreaterThan(4 * h4.up);
    expect(s32.up + s32.down).toBeLessThan(h4.up);
  }, 600_000);
});
