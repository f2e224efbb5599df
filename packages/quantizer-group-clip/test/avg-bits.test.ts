import type { ChannelBlockLayout } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { averageBits } from '../src/index.js';
import { randomPerm, tokenLayout } from './helpers.js';

// Llama-2-7B-like stream: 32 KV heads x head dim 128 (SKVQ.md section 5).
const CHANNELS = 4096;
const LAYERS = 32;
const TOKENS = 1024;

describe('averageBits', () => {
  const k = tokenLayout(CHANNELS, 128, 2, 'fp8e4m3', 0.92);
  const v = tokenLayout(CHANNELS, 128, 1.5, 'fp8e4m3', 0.92);

  it('K2 + V1.5 ternary, fp8 meta, group 128: 2.125 and 1.7265625 bits per token', () => {
    const r = averageBits({
      channels: CHANNELS,
      tokens: TOKENS,
      layers: LAYERS,
      k: { layout: k },
      v: { layout: v },
    });
    // Per token per layer, by hand: K codes 4096 * 2 / 8 = 1024 B, V codes ceil(4096 / 5) = 820 B
    // (819.2 plus row padding), metadata 32 groups * (scale + zero) * 1 B = 64 B per stream.
    expect(r.breakdown.codes).toBe(LAYERS * TOKENS * (1024 + 820));
    expect(r.breakdown.meta).toBe(LAYERS * TOKENS * (64 + 64));
    expect(r.breakdown.fp).toBe(0);
    // No permutation (identity), but 33 group offsets of 4 bytes, per layer and stream.
    expect(r.breakdown.permutations).toBe(LAYERS * 2 * 33 * 4);
    expect(r.elements).toBe(TOKENS * LAYERS * 2 * CHANNELS);
    const kBits = 2 + (2 * 8) / 128; // 2.125
    const vBits = (820 * 8) / CHANNELS + (2 * 8) / 128; // 1.6015625 + 0.125
    const payload = ((r.breakdown.codes + r.breakdown.meta) * 8) / r.elements;
    expect(payload).toBe((kBits + vBits) / 2); // 1.92578125, "about 1.925"
    expect(r.bits).toBe((r.breakdown.total * 8) / r.elements);
    expect(r.bits - payload).toBeCloseTo((2 * 33 * 4 * 8) / (TOKENS * 2 * CHANNELS), 12);
  });

  it('counts the fp window + sinks and the calibrated permutations', () => {
    const kp = { ...k, perm: randomPerm(CHANNELS, 1) };
    const vp = { ...v, perm: randomPerm(CHANNELS, 2) };
    const fpTokens = 128 + 5;
    const r = averageBits({
      channels: CHANNELS,
      tokens: TOKENS,
      layers: LAYERS,
      k: { layout: kp },
      v: { layout: vp },
      fpTokens,
      fpBytesPerElement: 2,
    });
    const q = TOKENS - fpTokens;
    expect(r.breakdown.codes).toBe(LAYERS * q * (1024 + 820));
    expect(r.breakdown.meta).toBe(LAYERS * q * 128);
    expect(r.breakdown.fp).toBe(LAYERS * 2 * fpTokens * CHANNELS * 2);
    expect(r.breakdown.permutations).toBe(LAYERS * 2 * 4 * (CHANNELS + 33));
    expect(r.breakdown.total).toBe(
      r.breakdown.codes + r.breakdown.meta + r.breakdown.fp + r.breakdown.permutations,
    );
    // fp32 window doubles the fp bytes.
    const r32 = averageBits({
      channels: CHANNELS,
      tokens: TOKENS,
      layers: LAYERS,
      k: { layout: kp },
      v: { layout: vp },
      fpTokens,
      fpBytesPerElement: 4,
    });
    expect(r32.breakdown.fp).toBe(2 * r.breakdown.fp);
  });

  it('KIVI keys: one scale and zero per channel per 32-token block', () => {
    const keys: ChannelBlockLayout = {
      kind: 'channel-block',
      channels: CHANNELS,
      bits: 2,
      meta: 'fp16',
      blockTokens: 32,
      alpha: 1,
    };
    const values = tokenLayout(CHANNELS, 128, 2, 'fp16');
    const r = averageBits({
      channels: CHANNELS,
      tokens: TOKENS,
      layers: 1,
      k: { layout: keys },
      v: { layout: values },
      fpTokens: 128, // the residual
    });
    const blocks = (TOKENS - 128) / 32; // 28
    expect(r.breakdown.meta).toBe(blocks * CHANNELS * 2 * 2 + (TOKENS - 128) * 32 * 2 * 2);
    expect(r.breakdown.permutations).toBe(33 * 4); // the values' group offsets only
    expect(() =>
      averageBits({
        channels: CHANNELS,
        tokens: TOKENS,
        layers: 1,
        k: { layout: keys },
        v: { layout: values },
        fpTokens: 100,
      }),
    ).toThrow(/not whole blocks of 32/);
  });

  it('validates its input', () => {
    const base = {
      channels: CHANNELS,
      tokens: TOKENS,
      layers: LAYERS,
      k: { layout: k },
      v: { layout: v },
    };
    expect(() => averageBits({ ...base, fpTokens: TOKENS + 1 })).toThrow(/fpTokens/);
    expect(() => averageBits({ ...base, fpBytesPerElement: 3 })).toThrow(/expected 2, 4/);
    expect(() => averageBits({ ...base, channels: 64 })).toThrow(
      /4096 channels but channels is 64/,
    );
    expect(() => averageBits({ ...base, tokens: 0 })).toThrow(/tokens/);
  });
});
