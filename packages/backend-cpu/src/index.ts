export {
  type CpuBackendOptions,
  cpuBackend,
  cpuReferenceBackend,
  createCpuBackend,
} from './backends.js';
export {
  CPU_BACKEND_NAME,
  CPU_PRIORITY,
  CPU_REFERENCE_BACKEND_NAME,
  CPU_REFERENCE_PRIORITY,
} from './constants.js';
export { DEFAULT_MIN_WORK_PER_THREAD } from './threads/threaded-attend.js';
