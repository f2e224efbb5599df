import { describeError, SkvqError } from '@skvq/core';

/**
 * Where the GPUDevice comes from: the caller's, the browser's `navigator.gpu`, or Node's
 * `webgpu` package (Dawn). In Node without a GPU, Dawn runs on Mesa's OpenGL ES (llvmpipe,
 * a CPU rasteriser): `EGL_PLATFORM=surfaceless` lets EGL start without a display and
 * `featureLevel: 'compatibility'` is the WebGPU level OpenGL ES can offer.
 */

/** Node's `create()` result must stay referenced while devices from it live (Dawn frees it). */
let nodeGpu: GPU | undefined;

interface NodeWebgpuModule {
  create(flags: string[]): GPU;
}

async function nodeGpuInstance(): Promise<GPU> {
  if (nodeGpu !== undefined) return nodeGpu;
  process.env.EGL_PLATFORM ??= 'surfaceless';
  let mod: NodeWebgpuModule;
  try {
    mod = (await import('webgpu')) as unknown as NodeWebgpuModule;
  } catch (error) {
    throw new SkvqError(
      'BACKEND_INIT_FAILED',
      `webgpu: navigator.gpu is absent and the optional Node package "webgpu" could not be loaded (${describeError(error)}); install webgpu@0.6 or pass { device } to createWebgpuBackend`,
      { cause: error },
    );
  }
  // Prefer real GPUs (Vulkan) when present; the OpenGL ES backend is Mesa's software path.
  const flags = process.env.SKVQ_WEBGPU_FLAGS?.split(',').filter((f) => f.length > 0) ?? [
    'backend=opengles',
  ];
  nodeGpu = mod.create(flags);
  return nodeGpu;
}

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/** Acquires a device, or throws BACKEND_INIT_FAILED saying why none is available here. */
export async function acquireDevice(): Promise<GPUDevice> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  let gpu: GPU | undefined = nav?.gpu;
  if (gpu === undefined && isNode()) gpu = await nodeGpuInstance();
  if (gpu === undefined) {
    throw new SkvqError(
      'BACKEND_INIT_FAILED',
      'webgpu: this environment has no navigator.gpu (WebGPU is not available); pass { device } to createWebgpuBackend',
    );
  }
  let adapter: GPUAdapter | null = await gpu.requestAdapter();
  // OpenGL ES (Mesa) only offers the compatibility feature level.
  adapter ??= await gpu.requestAdapter({
    featureLevel: 'compatibility',
  } as GPURequestAdapterOptions);
  if (adapter === null) {
    throw new SkvqError(
      'BACKEND_INIT_FAILED',
      'webgpu: requestAdapter() returned no adapter (no GPU, and no software adapter such as Mesa llvmpipe through EGL: on Debian install libegl1 libegl-dev libegl-mesa0 libgl1-mesa-dri libgles2; Dawn opens the unversioned libEGL.so that libegl-dev provides)',
    );
  }
  try {
    // Ask for the adapter's largest buffers: device storage sub-allocates KV bytes from
    // arenas of up to one storage binding, and the default limit (128 MiB) is far below
    // what real GPUs allow (a stream that outgrows one arena is gathered per call).
    const limits = adapter.limits;
    return await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
      },
    });
  } catch (error) {
    throw new SkvqError(
      'BACKEND_INIT_FAILED',
      `webgpu: adapter.requestDevice() failed: ${describeError(error)}`,
      { cause: error },
    );
  }
}
