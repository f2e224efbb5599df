/** Registry name and priority of the WebGPU backend: above the CPU backends (priority 0). */
export const WEBGPU_BACKEND_NAME = 'webgpu';
export const WEBGPU_PRIORITY = 20;

/**
 * GPUBufferUsage / GPUMapMode flag values (WebGPU spec, fixed numbers). Spelled out here
 * because Node's `webgpu` package does not install the GPU* globals, and a library must not
 * install them itself (no import side effects).
 */
export const BUFFER_USAGE = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;
export const MAP_MODE_READ = 0x0001;

/**
 * Largest workgroup we ask for. 128 is what Mesa's OpenGL ES path (llvmpipe) allows; the
 * real size is min(this, device.limits.maxComputeInvocationsPerWorkgroup,
 * maxComputeWorkgroupSizeX), and a power of two so tree reductions stay simple.
 */
export const MAX_WORKGROUP_SIZE = 256;

/**
 * Key positions one attention workgroup scores (split-K chunk, flash-decoding style):
 * their scores live in workgroup memory (4 bytes each, far below the 16 KiB minimum limit).
 */
export const ATTENTION_CHUNK_PER_THREAD = 4;

/**
 * RoPE angles are position * invFreq in float64 on the CPU reference; float32 on the GPU
 * loses ~1e-2 rad at 128k tokens. The kernel splits a position as hi * ROPE_TILE + lo and
 * combines two host-computed (float64, rounded once) tables with the angle-addition formula.
 */
export const ROPE_TILE = 1024;

/** Attention scores of invalid (masked) positions: a finite "minus infinity". */
export const NEG_LARGE = -3.0e38;
