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

// The conformance cases fit one pass; here the context is cut into slices of 64 positions
// (one chunk each), so the host's merge of slice partials, the rope table per slice and
// the per-slice data uploads are what is under test, decode and prefill, with the
// attention sums a heavy-hitter rule reads.
const long = attentionCaseSpecs().find((s) => s.name.includes('~1000 tokens'));
const longPrefill = prefillCaseSpecs().find((s) => s.name.includes('~1000 tokens'));

await describeModes(
  'attention over many slices',
  (backend) => {
    test('decode over ~1000 tokens in slices of 64', async () => {
      expect(long).toBeDefined();
      const c = buildAttentionCase(long!);
      const attrs = { geometry: c.geometry, keysPreRope: c.spec.keysPreRope };
      const wantSums = new Float32Array(c.length);
      const gotSums = new Float32Array(c.length);
      const inputs = {
        q: c.q,
        position: c.length - 1,
        keys: c.keys,
        values: c.values,
        length: c.length,
      };
      const want = await cpuReferenceBackend.kernels.attendDecode!(
        { ...inputs, attentionSums: wantSums },
        attrs,
      );
      const got = await backend.kernels.attendDecode!({ ...inputs, attentionSums: gotSums }, attrs);
      expect(c.length / ATTENTION_CHUNK).toBeGreaterThan(10);
      expect(relativeError(got, want)).toBeLessThanOrEqual(ATTENTION_RELATIVE_TOLERANCE);
      expect(relativeError(gotSums, wantSums)).toBeLessThanOrEqual(ATTENTION_RELATIVE_TOLERANCE);
    });

    test('prefill rows over ~1000 tokens in slices of 64', async () => {
      expect(longPrefill).toBeDefined();
      const c = buildAttentionCase(longPrefill!);
      const attrs = { geometry: c.geometry, keysPreRope: c.spec.keysPreRope };
      const { start, count } = c.spec.prefill!;
      const inputs = { q: c.q, start, count, keys: c.keys, values: c.values, length: c.length };
      const want = await cpuReferenceBackend.kernels.attendPrefill!(inputs, attrs);
      const got = await backend.kernels.attendPrefill!(inputs, attrs);
      expect(relativeError(got, want)).toBeLessThanOrEqual(ATTENTION_RELATIVE_TOLERANCE);
    });

    test('prefill of more rows than one pass holds (several row batches), with sums', async () => {
      const spec = { ...longPrefill!, prefill: { start: 850, count: MAX_PREFILL_ROWS * 2 + 5 } };
      const c = buildAttentionCase(spec);
      const attrs = { geometry: c.geometry, keysPreRope: c.spec.keysPreRope };
      const { start, count } = spec.prefill;
      const wantSums = new Float32Array(c.length);
      const gotSums = new Float32Array(c.length);
      const inputs = { q: c.q, start, count, keys: c.keys, values: c.values, length: c.length };
      const want = await cpuReferenceBackend.kernels.attendPrefill!(
        { ...inputs, attentionSums: wantSums },
        attrs,
      );
      const got = await backend.kernels.attendPrefill!(
        { ...inputs, attentionSums: gotSums },
        attrs,
      );
      expect(relativeError(got, want)).toBeLessThanOrEqual(ATTENTION_RELATIVE_TOLERANCE);
      expect(relativeError(gotSums, wantSums)).toBeLessThanOrEqual(ATTENTION_RELATIVE_TOLERANCE);
    });
  },
  { maxSliceTokens: ATTENTION_CHUNK },
);
