/// <reference types="@webgpu/types" />
// GPU* types come from @webgpu/types (a dependency); TypeScript users add it to "types".

export { attendDecodeWebgpu, attendPrefillWebgpu, attendWebgpu } from './attention.js';
export { createWebgpuBackend, type WebgpuBackend, type WebgpuBackendOptions } from './backend.js';
export { WEBGPU_BACKEND_NAME, WEBGPU_PRIORITY } from './constants.js';
export { dequantizeWebgpu } from './dequantize.js';
export { acquireDevice } from './device.js';
export { GpuContext } from './gpu-context.js';
export { quantizeBlockWebgpu, quantizeTokensWebgpu } from './quantize.js';
export type { WebgpuStorage } from './store/device-storage.js';
