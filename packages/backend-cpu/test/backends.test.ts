import { createRegistry, KERNEL_NAMES } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { cpuBackend, cpuReferenceBackend } from '../src/index.js';

describe('CPU backends', () => {
  it('implement every kernel of the contract', () => {
    for (const backend of [cpuBackend, cpuReferenceBackend]) {
      for (const kernel of KERNEL_NAMES)
        expect(typeof backend.kernels[kernel], kernel).toBe('function');
    }
  });

  it('resolve as the fast backend first, the reference never ahead of it', async () => {
    const registry = createRegistry().use(cpuReferenceBackend).use(cpuBackend);
    expect((await registry.resolveBackend()).name).toBe('cpu');
    expect(cpuReferenceBackend.name).toBe('cpu-reference');
    expect(cpuReferenceBackend.priority).toBeLessThan(cpuBackend.priority);
  });
});
