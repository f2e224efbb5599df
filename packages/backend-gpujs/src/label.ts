import type { BackendPlugin } from '@skvq/core';
import { GPUJS_BACKEND_NAME } from './constants.js';

/**
 * A backend's name for logs and pages, with the mode a gpu.js backend really runs in
 * ("gpujs (webgl2)"); any other backend is just its name.
 */
export function backendLabel(backend: BackendPlugin): string {
  const mode = (backend as { mode?: () => string }).mode;
  return backend.name === GPUJS_BACKEND_NAME && typeof mode === 'function'
    ? `${backend.name} (${mode.call(backend)})`
    : backend.name;
}
