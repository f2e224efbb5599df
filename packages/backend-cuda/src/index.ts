export { type CudaAvailability, cudaAvailability } from './availability.js';
export {
  CUDA_BACKEND_NAME,
  CUDA_BACKEND_PRIORITY,
  type CudaBackend,
  type CudaBackendOptions,
  createCudaBackend,
  cudaBackend,
} from './backend.js';
export type { CudaDevice, DeviceBuffer } from './device.js';
export type { AddonKind, CudaDeviceInfo } from './native.js';
