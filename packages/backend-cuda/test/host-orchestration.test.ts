import {
  contiguousGroupOffsets,
  type KvGeometry,
  LLAMA2_7B_LAYER,
  LLAMA2_7B_LAYERS,
  type TokenGroupLayout,
} from '@skvq/core';
import { layoutPlan } from '@skvq/formats';
import { describe, expect, it } from 'vitest';
import {
  ATTENTION_SHARED_BUDGET,
  AttentionRunner,
  attendSharedBytes,
  buildLocations,
  chooseChunkLength,
  chooseTileTokens,
  DeviceLayout,
  enqueueDequantize,
  enqueueQuantizeBlock,
  enqueueQuantizeTokens,
  KernelArgs,
  MAX_QUERY_HIDDEN,
  packSegmentDescriptors,
  SEGMENT_DESCRIPTOR_BYTES,
  SegmentTable,
} from '../src/internal.js';
import { fakeDevice } from './fake-device.js';

const geometry7b: KvGeometry = { ...LLAMA2_7B_LAYER, layers: LLAMA2_7B_LAYERS };

function tokenGroup(channels: number, groupSize: number): TokenGroupLayout {
  const perm = new Uint32Array(channels);
  for (let j = 0; j < channels; j++) perm[j] = (j * 7) % channels; // a permutation when gcd(7, channels) = 1
  return {
    kind: 'token-group',
    channels,
    bits: 2,
    meta: 'fp8e4m3',
    perm,
    groupOffsets: contiguousGroupOffsets(channels, groupSize),
    alpha: 0.92,
  };
}

describe('KernelArgs', () => {
  it('places each argument at its natural alignment and records its type', () => {
    const args = new KernelArgs()
      .i32(7)
      .ptr(0x1234n)
      .f32(0.5)
      .i32(-1)
      .i64(2 ** 40)
      .u32(3);
    expect([...args.offsets()]).toEqual([0, 8, 16, 20, 24, 32]);
    expect(args.types()).toEqual(['i32', 'ptr', 'f32', 'i32', 'i64', 'u32']);
    const view = new DataView(args.data().buffer);
    expect(view.getInt32(0, true)).toBe(7);
    expect(view.getBigUint64(8, true)).toBe(0x1234n);
    expect(view.getFloat32(16, true)).toBe(0.5);
    expect(view.getInt32(20, true)).toBe(-1);
    expect(view.getBigInt64(24, true)).toBe(2n ** 40n);
    expect(args.data().length).toBe(36);
  });

  it('writes null pointers as address 0', () => {
    const view = new DataView(new KernelArgs().ptr(null).data().buffer);
    expect(view.getBigUint64(0, true)).toBe(0n);
  });
});

describe('segment tables', () => {
  it('maps every position to (segment << 20 | row)', () => {
    const loc = buildLocations([Int32Array.of(0, 1), Int32Array.of(4, 2, 3)], [2, 3], 5, 'keys');
    expect([...loc]).toEqual([0, 1, (1 << 20) | 1, (1 << 20) | 2, (1 << 20) | 0]);
  });

  it('rejects gaps, duplicates and out-of-range positions naming the position', () => {
    expect(() => buildLocations([Int32Array.of(0, 2)], [2], 3, 'keys')).toThrow(/position 1/);
    expect(() => buildLocations([Int32Array.of(0), Int32Array.of(0)], [1, 1], 1, 'keys')).toThrow(
      /stored twice/,
    );
    expect(() => buildLocations([Int32Array.of(0, 5)], [2], 2, 'keys')).toThrow(/expected 0\.\.1/);
  });

  it('packs descriptors with the field offsets of struct SegDesc', () => {
    const { device } = fakeDevice();
    const layout = new DeviceLayout(device, tokenGroup(64, 32));
    const codes = device.alloc(100);
    const meta = device.alloc(100);
    const fp = device.alloc(64);
    const bytes = packSegmentDescriptors([
      { kind: 'fp16', data: fp },
      { kind: 'packed', layout, codes, meta },
    ]);
    expect(bytes.length).toBe(2 * SEGMENT_DESCRIPTOR_BYTES);
    const v = new DataView(bytes.buffer);
    expect(v.getBigUint64(0, true)).toBe(fp.ptr);
    expect(v.getInt32(32, true)).toBe(1);
    const b = SEGMENT_DESCRIPTOR_BYTES;
    expect(v.getBigUint64(b, true)).toBe(codes.ptr);
    expect(v.getBigUint64(b + 8, true)).toBe(meta.ptr);
    expect(v.getBigUint64(b + 16, true)).toBe(layout.perm!.ptr);
    expect(v.getBigUint64(b + 24, true)).toBe(layout.groupOf!.ptr);
    expect(v.getInt32(b + 32, true)).toBe(2); // token-group
    expect(v.getInt32(b + 36, true)).toBe(2); // 2 bits
    expect(v.getInt32(b + 40, true)).toBe(2); // fp8
    expect(v.getInt32(b + 44, true)).toBe(16); // 64 codes of 2 bits
    expect(v.getInt32(b + 48, true)).toBe(4); // 2 groups x (scale, zero) x 1 byte
    expect(v.getInt32(b + 52, true)).toBe(1);
  });

  it('gives each permuted position its group (the device lookup comes from layoutPlan)', () => {
    const layout: TokenGroupLayout = {
      kind: 'token-group',
      channels: 5,
      bits: 2,
      meta: 'fp8e4m3',
      perm: null,
      groupOffsets: Uint32Array.of(0, 2, 5),
      alpha: 1,
    };
    expect([...layoutPlan(layout).pairOf]).toEqual([0, 0, 1, 1, 1]);
  });
});

describe('launch planning', () => {
  it('fits the 7B layer in the shared-memory budget with a multi-token tile', () => {
    const tile = chooseTileTokens(geometry7b, 227 * 1024);
    expect(tile).toBeGreaterThanOrEqual(2);
    expect(attendSharedBytes(geometry7b, tile)).toBeLessThanOrEqual(ATTENTION_SHARED_BUDGET);
    expect(attendSharedBytes(geometry7b, tile + 1)).toBeGreaterThan(ATTENTION_SHARED_BUDGET);
  });

  it('splits long sequences into enough chunks to fill every SM', () => {
    const tile = 4;
    for (const length of [32_768, 131_072, 1_048_576]) {
      const chunk = chooseChunkLength(length, 1, tile, 132);
      const chunks = Math.ceil(length / chunk);
      expect(chunk % tile).toBe(0);
      expect(chunks).toBeGreaterThanOrEqual(132);
      expect(chunks).toBeLessThanOrEqual(132 * 4);
    }
    expect(chooseChunkLength(3, 1, 4, 132)).toBe(4);
  });

  it('enqueues partial + reduce with signature-checked arguments and a covering grid', () => {
    const { device, launches } = fakeDevice();
    const runner = new AttentionRunner(
      device,
      geometry7b,
      { keysPreRope: true },
      {
        maxQueries: 1,
        maxLength: 131_072,
      },
    );
    const keys = new SegmentTable(device, [], new Uint32Array(1));
    const q = device.alloc(4 * 4096);
    const plan = runner.enqueue({
      q,
      numQueries: 1,
      start: 131_071,
      causal: false,
      length: 131_072,
      keys,
      values: keys,
    });
    expect(launches.map((l) => l.name)).toEqual(['skvq_attend_partial', 'skvq_attend_reduce']);
    const [partial] = launches;
    expect(partial!.config.grid[0]).toBe(plan.chunks);
    expect(plan.chunks * plan.chunkLength).toBeGreaterThanOrEqual(131_072);
    expect(partial!.config.sharedBytes).toBe(attendSharedBytes(geometry7b, runner.tileTokens));
  });

  it('adds the attention-sums pass when asked and rejects oversized geometries', () => {
    const { device, launches } = fakeDevice();
    const runner = new AttentionRunner(
      device,
      geometry7b,
      { keysPreRope: false },
      {
        maxQueries: 3,
        maxLength: 100,
        withSums: true,
      },
    );
    const keys = new SegmentTable(device, [], new Uint32Array(1));
    runner.enqueue({
      q: device.alloc(4),
      numQueries: 3,
      start: 97,
      causal: true,
      length: 100,
      keys,
      values: keys,
    });
    expect(launches.map((l) => l.name)).toEqual([
      'skvq_attend_partial',
      'skvq_attend_reduce',
      'skvq_attention_sums',
    ]);
    expect(launches[0]!.config.grid[1]).toBe(3);
    const big = { ...geometry7b, queryHeads: 128, kvHeads: 128 };
    expect(128 * 128).toBeGreaterThan(MAX_QUERY_HIDDEN);
    expect(
      () =>
        new AttentionRunner(device, big, { keysPreRope: true }, { maxQueries: 1, maxLength: 8 }),
    ).toThrow(/at most 8192/);
  });

  it('enqueues quantize and dequantize launches with matching signatures', () => {
    const { device, launches } = fakeDevice();
    const tg = new DeviceLayout(device, tokenGroup(64, 32));
    const cb = new DeviceLayout(device, {
      kind: 'channel-block',
      channels: 64,
      bits: 2,
      meta: 'fp16',
      blockTokens: 32,
      alpha: 1,
    });
    const buf = device.alloc(1 << 16);
    enqueueQuantizeTokens(device, tg, buf, 3, buf, 0, buf, 0, buf);
    enqueueQuantizeBlock(device, cb, buf, buf, buf, 0, buf, 0, buf);
    enqueueDequantize(device, tg, buf, buf, 0, 3, buf, buf);
    enqueueDequantize(device, cb, buf, buf, 5, 3, buf, buf);
    expect(launches.map((l) => l.name)).toEqual([
      'skvq_quantize_tokens',
      'skvq_quantize_block_codes',
      'skvq_pack_rows',
      'skvq_dequantize',
      'skvq_dequantize',
    ]);
    // One block per token; shared memory holds 2 floats per group and one byte per channel.
    expect(launches[0]!.config.grid[0]).toBe(3);
    expect(launches[0]!.config.sharedBytes).toBe(8 * 2 + 64);
    expect(launches[3]!.config.grid[0]! * 256).toBeGreaterThanOrEqual(3 * 64);
  });
});
