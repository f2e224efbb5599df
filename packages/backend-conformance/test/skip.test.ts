import { describe, expect, it } from 'vitest';
import { skipDecision } from '../src/vitest.js';

describe('skipDecision', () => {
  it('runs without a skip, skips with one, fails a ciMustRun skip when CI requires features', () => {
    expect(skipDecision(undefined, '1')).toBe('run');
    expect(skipDecision(false, '1')).toBe('run');
    expect(skipDecision({ reason: 'no GPU' }, undefined)).toBe('skip');
    expect(skipDecision({ reason: 'no GPU' }, '1')).toBe('skip');
    expect(skipDecision({ reason: 'no GPU', ciMustRun: true }, undefined)).toBe('skip');
    expect(skipDecision({ reason: 'no GPU', ciMustRun: true }, '0')).toBe('skip');
    expect(skipDecision({ reason: 'no GPU', ciMustRun: true }, '1')).toBe('fail');
  });
});
