import { describe, expect, it } from 'vitest';
import { parseKvBits } from '../src/args.js';
import { UsageError } from '../src/errors.js';
import { parseMethod, parseMethods } from '../src/methods.js';

describe('method grammar', () => {
  it('parses dense, single and mixed methods', () => {
    expect(parseMethod('fp32')).toEqual({ kind: 'dense', name: 'fp32', precision: 'fp32' });
    const s = parseMethod('skvq-k2v1.5');
    expect(s).toMatchObject({
      kind: 'quantized',
      keys: { method: 'skvq', bits: 2 },
      values: { method: 'skvq', bits: 1.5 },
    });
    const m = parseMethod('KIVI+skvq-K2V1.5');
    expect(m).toMatchObject({
      name: 'kivi+skvq-k2v1.5',
      keys: { method: 'kivi', bits: 2 },
      values: { method: 'skvq', bits: 1.5 },
    });
    expect(parseMethod('skvq-k2v2:noclip:noreorder')).toMatchObject({
      noClip: true,
      noReorder: true,
      postRope: false,
    });
    expect(parseMethod('skvq-k2v1.5:postrope')).toMatchObject({ postRope: true, noClip: false });
    expect(parseMethod('rtn-k2v2:postrope')).toMatchObject({ postRope: true });
  });

  it.each([
    ['foo-k2v2', 'unknown method "foo"'],
    ['skvq-k5v2', 'not a bit width'],
    ['skvq-2v2', 'not fp32, fp16'],
    ['rtn+bar-k2v2', 'unknown method "bar"'],
    ['rtn-k2v2:noclip', 'only apply to skvq'],
    ['skvq-k2v2:fast', 'unknown suffix'],
  ])('rejects %s with the valid forms listed', (raw, why) => {
    let error: unknown;
    try {
      parseMethod(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(why);
    expect((error as Error).message).toContain('<keys>+<values>-k<bits>v<bits>');
  });

  it('rejects empty entries and duplicates in a list', () => {
    expect(() => parseMethods('fp32,,kivi-k2v2')).toThrow(/empty entry/);
    expect(() => parseMethods('fp32,fp32')).toThrow(/twice/);
    expect(parseMethods('fp32, kivi-k2v2').map((m) => m.name)).toEqual(['fp32', 'kivi-k2v2']);
  });

  it('parses K<bits>V<bits>', () => {
    expect(parseKvBits('K2V1.5', 'calibrate')).toEqual({ k: 2, v: 1.5 });
    expect(() => parseKvBits('K2', 'calibrate')).toThrow(UsageError);
    expect(() => parseKvBits('K7V2', 'calibrate')).toThrow(/not a bit width/);
  });
});
