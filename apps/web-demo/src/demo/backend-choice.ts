// The page's backend selector, free of DOM: which registry backends a choice allows.
import { CPU_BACKEND_NAME } from '@skvq/backend-cpu';
import { GPUJS_BACKEND_NAME } from '@skvq/backend-gpujs';
import { WEBGPU_BACKEND_NAME } from '@skvq/backend-webgpu';
import { type ResolveBackendOptions, SkvqError } from '@skvq/core';

/** The selector's values: 'auto' resolves by registry priority (WebGPU, gpu.js, CPU). */
export const DEMO_BACKEND_CHOICES = [
  'auto',
  WEBGPU_BACKEND_NAME,
  GPUJS_BACKEND_NAME,
  CPU_BACKEND_NAME,
] as const;
export type DemoBackendChoice = (typeof DEMO_BACKEND_CHOICES)[number];

/** Validates the selector's raw value; an unknown one is a SkvqError naming the choices. */
export function parseBackendChoice(raw: string): DemoBackendChoice {
  if (!DEMO_BACKEND_CHOICES.includes(raw as DemoBackendChoice)) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `backend ${raw} is unknown; expected ${DEMO_BACKEND_CHOICES.join(', ')}`,
    );
  }
  return raw as DemoBackendChoice;
}

/** What `registry.resolveBackend` gets for a choice: every backend, or only the chosen one. */
export function resolveOptionsFor(choice: DemoBackendChoice): ResolveBackendOptions {
  return choice === 'auto' ? {} : { only: [choice] };
}
