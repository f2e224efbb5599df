import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type KvSegment,
  type PackedSegment,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
} from '@skvq/core';
import { expect, test } from 'vitest';
import { describeWebgpu, probeWebgpu, rng } from './helpers.js';
import { cacheFixture } from './segments-fixture.js';

const dequantizeKernelReference = cpuReferenceBackend.kernels.dequantize!;

const probe = await probeWebgpu();

function packed(segments: KvSegment[]): PackedSegment[] {
  return segments.filter((s): s is PackedSegment => s.kind === 'packed');
}

describeWebgpu(
  'dequantize (webgpu) vs reference: the segment reader of the attention kernels',
  probe,
  (backend) => {
    test('every bit width and metadata format, token groups with permutation: bit-identical', async () => {
      let checked = 0;
      for (const bits of SUPPORTED_BITS) {
        for (const meta of SUPPORTED_META_FORMATS) {
          const cache = cacheFixture(rng(bits * 10 + meta.length), 32, 24, {
            keyKind: 'token-group',
            kBits: bits,
            vBits: bits,
            meta,
          });
          const page = packed(cache.keys)[0] as PackedSegment;
          const inputs = {
            layout: page.layout,
            codes: page.codes,
            meta: page.meta,
            first: 1,
            count: page.count - 2,
          };
          const got = await backend.kernels.dequantize?.(inputs);
          expect(got).toEqual(dequantizeKernelReference(inputs));
          checked++;
        }
      }
      expect(checked).toBe(15);
    });

    test('channel blocks (KIVI keys), a range starting inside a block', async () => {
      for (const bits of [2, 4] as const) {
        const cache = cacheFixture(rng(bits), 32, 29, {
          keyKind: 'channel-block',
          kBits: bits,
          vBits: 2,
          meta: 'fp16',
        });
        const page = packed(cache.keys)[0] as PackedSegment;
        const inputs = {
          layout: page.layout,
          codes: page.codes,
          meta: page.meta,
          first: 2,
          count: 13,
        };
        const got = await backend.kernels.dequantize?.(inputs);
        expect(got).toEqual(dequantizeKernelReference(inputs));
      }
    });
  },
);
