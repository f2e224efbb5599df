import {
  type BitWidth,
  type ChannelBlockLayout,
  createRegistry,
  isSkvqError,
  type KvGeometry,
  type QuantizerContext,
  type TokenGroupLayout,
} from '@skvq/core';
import { validateTokenGroupLayout } from '@skvq/formats';
import { describe, expect, it } from 'vitest';
import {
  KIVI_BLOCK_TOKENS,
  KIVI_RESIDUAL_TOKENS,
  kiviQuantizer,
  rtnQuantizer,
} from '../src/index.js';

const geometry: KvGeometry = {
  layers: 2,
  queryHeads: 8,
  kvHeads: 2,
  headDim: 128,
  rope: { style: 'half', theta: 10000 },
};

const context = (patch: Partial<QuantizerContext> = {}): QuantizerContext => ({
  geometry,
  layer: 0,
  stream: 'k',
  bits: 2,
  meta: 'fp16',
  groupSize: 128,
  ...patch,
});

describe('rtnQuantizer', () => {
  it('is a calibration-free token-group quantizer for every bit width', () => {
    expect(rtnQuantizer.name).toBe('rtn');
    expect(rtnQuantizer.requiresCalibration).toBe(false);
    expect(rtnQuantizer.keyRope).toBe('any');
    expect([...rtnQuantizer.supportedBits].sort()).toEqual([1.5, 2, 3, 4, 8]);
  });

  it('uses contiguous groups of groupSize, no permutation, no clipping', () => {
    for (const stream of ['k', 'v'] as const) {
      const layout = rtnQuantizer.layout(context({ stream, groupSize: 96 })) as TokenGroupLayout;
      expect(layout.kind).toBe('token-group');
      expect(layout.channels).toBe(256);
      expect(layout.perm).toBeNull();
      expect(layout.alpha).toBe(1);
      expect(Array.from(layout.groupOffsets)).toEqual([0, 96, 192, 256]);
      expect(validateTokenGroupLayout(layout)).toBe(layout);
    }
    expect(rtnQuantizer.layout(context({ alpha: 0.9 })).alpha).toBe(0.9);
  });

  it('rejects bad groupSize, bits and alpha with typed errors', () => {
    expect(() => rtnQuantizer.layout(context({ groupSize: 0 }))).toThrow(
      /groupSize 0 must be an integer in 1..256/,
    );
    expect(() => rtnQuantizer.layout(context({ groupSize: 512 }))).toThrow(/1..256/);
    try {
      rtnQuantizer.layout(context({ bits: 5 as BitWidth }));
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error, 'UNSUPPORTED_BITS')).toBe(true);
      expect((error as Error).message).toMatch(
        /unsupported bits 5 for quantizer "rtn"; expected 8, 4, 3, 2, 1.5/,
      );
    }
    expect(() => rtnQuantizer.layout(context({ alpha: 1.5 }))).toThrow(/\(0, 1\]/);
  });
});

describe('kiviQuantizer', () => {
  it('exports the paper constants', () => {
    expect(KIVI_BLOCK_TOKENS).toBe(32);
    expect(KIVI_RESIDUAL_TOKENS).toBe(128);
    expect(KIVI_RESIDUAL_TOKENS % KIVI_BLOCK_TOKENS).toBe(0);
  });

  it('quantizes keys per channel over 32-token blocks (post-RoPE) and values per token', () => {
    expect(kiviQuantizer.name).toBe('kivi');
    expect(kiviQuantizer.keyRope).toBe('post');
    expect(kiviQuantizer.requiresCalibration).toBe(false);
    expect(kiviQuantizer.supportedBits).toContain(2);
    expect(kiviQuantizer.supportedBits).toContain(4);
    const keys = kiviQuantizer.layout(context({ stream: 'k', bits: 4 })) as ChannelBlockLayout;
    expect(keys).toEqual({
      kind: 'channel-block',
      channels: 256,
      bits: 4,
      meta: 'fp16',
      blockTokens: KIVI_BLOCK_TOKENS,
      alpha: 1,
    });
    const values = kiviQuantizer.layout(
      context({ stream: 'v', groupSize: 32 }),
    ) as TokenGroupLayout;
    expect(values.kind).toBe('token-group');
    expect(values.perm).toBeNull();
    expect(values.groupOffsets.length).toBe(256 / 32 + 1);
  });

  it('both plugins register side by side in a registry', () => {
    const registry = createRegistry().use(rtnQuantizer).use(kiviQuantizer);
    expect(registry.has('quantizer', 'rtn')).toBe(true);
    expect(registry.get('quantizer', 'kivi')).toBe(kiviQuantizer);
  });
});
