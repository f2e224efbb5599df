import { describeBackend } from '@skvq/backend-conformance/vitest';
import { createCudaBackend, cudaAvailability } from '../src/index.js';

// The shared suite, twice: on the GPU (skipped with the driver's reason where there is
// none, as on CI) and on the host emulator, which runs the same kernel source on CPU
// threads and which CI builds (ciMustRun: a missing emulator fails CI instead of skipping).
const gpu = cudaAvailability('cuda');
describeBackend('cuda', () => createCudaBackend(0), {
  skip: gpu.available ? false : { reason: `no CUDA driver: ${gpu.reason}` },
});

const emulator = cudaAvailability('emulator');
describeBackend(
  'cuda-emulator',
  () => createCudaBackend(0, { addon: 'emulator', name: 'cuda-emulator' }),
  {
    // Emulated threads are slow: the long prefill cases (32 queries over ~1000 tokens) would
    // take minutes; test/gpu-kernels.test.ts covers prefill on the emulator at small sizes.
    only: ['quantizeTokens', 'quantizeBlock', 'dequantize', 'attendDecode', 'errors'],
    skip: emulator.available
      ? false
      : { reason: `CUDA host emulator not built: ${emulator.reason}`, ciMustRun: true },
  },
);
