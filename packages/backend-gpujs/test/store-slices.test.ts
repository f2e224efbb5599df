import {
  ATTENTION_RELATIVE_TOLERANCE,
  attentionCaseSpecs,
  buildAttentionCase,
  prefillCaseSpecs,
  relativeError,
} from '@skvq/backend-conformance';
import { cpuReferenceBackend } from '@skvq/backend-cpu';
import { expect, test } from 'vitest';
import { ATTENTION_CHUNK, MAX_PREFILL_ROWS } from '../src/index.js';
import { describeModes } from './helpers.js';
import { toStoreSegments } from './store-helpers.js';

// Store attention with passes of at most 64 positions: every page is cut into several
// passes, each folded into the device-side softmax state by the merge kernel; and a
// prefill of more query rows than one batch holds.
const long = attentionCaseSpecs().find((s) => s.name.includes('~1000 tokens'));
const longPrefill = prefillCaseSpecs().find((s) => s.name.includes('~1000 tokens'));

await describeModes(
  'store attention in passes of 64 positions',
  (backend) => {
    test('decode over ~1000 tokens, and a prefill of several row batches, with sums', async () => {
      expect(long).toBeDefined();
      expect(longPrefill).toBeDefined();
      const storage = backend.storage!;
      const specs = [
        long!,
        { ...longPrefill!, prefill: { start: 850, count: MAX_PREFILL_ROWS * 2 + 5 } },
      ];
      for (const spec of specs) {
        const c = buildAttentionCase(spec);
        const attrs = { geometry: c.geometry, keysPreRope: c.spec.keysPreRope };
        const start = spec.prefill?.start ?? c.length - 1;
        const rows = spec.prefill?.count ?? 1;
        const wantSums = new Float32Array(c.length);
        const want = await cpuReferenceBackend.kernels.attendPrefill!(
          {
            q: c.q,
            start,
            count: rows,
            keys: c.keys,
            values: c.values,
            length: c.length,
            attentionSums: wantSums,
          },
          attrs,
        );
        const gotSums = new Float32Array(c.length);
        const got = await storage.kernels!.attend(
          {
            q: c.q,
            start,
            rows,
            causal: spec.prefill !== undefined,
            keys: toStoreSegments(storage, c.keys),
            values: toStoreSegments(storage, c.values),
            length: c.length,
            attentionSums: gotSums,
          },
          attrs,
        );
        expect(c.length / ATTENTION_CHUNK).toBeGreaterThan(10);
        expect(relativeError(got, want), spec.name).toBeLessThanOrEqual(
          ATTENTION_RELATIVE_TOLERANCE,
        );
        expect(relativeError(gotSums, wantSums)).toBeLessThanOrEqual(ATTENTION_RELATIVE_TOLERANCE);
      }
    }, 600_000);
  },
  { maxSliceTokens: ATTENTION_CHUNK },
);
