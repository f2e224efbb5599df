import type { TransferStats } from '@skvq/core';
import type { GpujsMode, GpujsModule } from './modes.js';

const GL_MODES: readonly GpujsMode[] = ['headlessgl', 'webgl2', 'webgl'];

/**
 * Bytes that cross between host and device, counted where gpu.js really moves them:
 * - an array argument is uploaded as a texture of four floats per texel, padded by gpu.js
 *   to a near-square rectangle (utils.getMemoryOptimizedFloatTextureSize);
 * - a result read to the host is one readPixels of its whole output texture, RGBA float32
 *   (16 bytes per texel, whether the texel holds one value or four).
 * Textures passed between kernels move nothing. Scalar arguments (uniforms, a few per
 * kernel launch) are part of the command stream and are not counted. In gpu.js's cpu and
 * webasm modes nothing leaves host memory; there the same events are counted at four
 * bytes per value (what a GL mode would move, without gpu.js's padding), so the counts say
 * what the algorithm moves in every mode the tests run.
 */
export class TransferCounter implements TransferStats {
  bytesToDevice = 0;
  bytesFromDevice = 0;
  private readonly gl: boolean;

  constructor(
    private readonly module: GpujsModule,
    mode: GpujsMode,
  ) {
    this.gl = GL_MODES.includes(mode);
  }

  /** An array of `values` float32 values handed to a kernel. */
  upload(values: number): void {
    const size = this.gl
      ? this.module.utils?.getMemoryOptimizedFloatTextureSize([values, 1, 1], 4)
      : undefined;
    this.bytesToDevice +=
      size === undefined ? 4 * values : 16 * (size[0] as number) * (size[1] as number);
  }

  /** A result of `values` values read back; `kernel.texSize` is its output texture on GL. */
  readback(kernel: { texSize?: ArrayLike<number> } | undefined, values: number): void {
    const size = this.gl ? kernel?.texSize : undefined;
    this.bytesFromDevice +=
      size === undefined ? 4 * values : 16 * (size[0] as number) * (size[1] as number);
  }

  snapshot(): TransferStats {
    return { bytesToDevice: this.bytesToDevice, bytesFromDevice: this.bytesFromDevice };
  }
}
