import { describeStoreBackend } from '@skvq/backend-conformance/vitest';
import { createCudaBackend, cudaAvailability } from '../src/index.js';

// The shared store suite (device storage, store kernels, a QuantizedCache on the device
// equal to the CPU reference cache, decode-step transfers), twice: on the GPU (skipped with
// the driver's reason where there is none, as here and on CI; scripts/gpu-check.sh runs it
// on a GPU) and on the host emulator, whose "device memory" is host memory behind the same
// addon interface, which CI builds (ciMustRun).
const gpu = cudaAvailability('cuda');
describeStoreBackend('cuda', () => createCudaBackend(0), {
  skip: gpu.available ? false : { reason: `no CUDA driver: ${gpu.reason}` },
});

const emulator = cudaAvailability('emulator');
describeStoreBackend(
  'cuda-emulator',
  () => createCudaBackend(0, { addon: 'emulator', name: 'cuda-emulator' }),
  {
    skip: emulator.available
      ? false
      : { reason: `CUDA host emulator not built: ${emulator.reason}`, ciMustRun: true },
  },
);
