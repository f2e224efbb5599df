import type { KernelResult } from '../context.js';

/** The parts of a gpu.js GL texture (and its WebGL context) a direct write uses. */
interface GlTexture {
  texture: unknown;
  size: ArrayLike<number>;
  context: {
    TEXTURE_2D: number;
    RGBA: number;
    FLOAT: number;
    bindTexture(target: number, texture: unknown): void;
    texSubImage2D(
      target: number,
      level: number,
      x: number,
      y: number,
      width: number,
      height: number,
      format: number,
      type: number,
      pixels: Float32Array,
    ): void;
  };
}

function asGlTexture(result: KernelResult): GlTexture | undefined {
  const t = result as Partial<GlTexture> | undefined;
  if (
    t === undefined ||
    t === null ||
    ArrayBuffer.isView(t) ||
    t.texture === undefined ||
    t.size === undefined ||
    typeof t.context?.texSubImage2D !== 'function'
  ) {
    return undefined;
  }
  return t as GlTexture;
}

/**
 * Writes words [w0, w0 + words.length) of a store buffer's texture in place with
 * texSubImage2D, when they fill whole texels (four words each: the layout of gpu.js's
 * memory-optimized textures, texel t at (t mod width, floor(t / width))). This is the one
 * place the backend goes under gpu.js: gpu.js has no partial texture update, and a write
 * through a kernel rewrites the whole buffer. The texture is the buffer's own (an
 * immutable kernel output no kernel renders to again). Returns the bytes uploaded, or
 * undefined when the write is not texel-aligned or the texture is not a GL one (the
 * caller then uses the write kernel).
 */
export function writeTexels(
  result: KernelResult,
  w0: number,
  words: Float32Array,
): number | undefined {
  const tex = asGlTexture(result);
  if (tex === undefined || w0 % 4 !== 0 || words.length % 4 !== 0 || words.length === 0) {
    return undefined;
  }
  const gl = tex.context;
  const width = tex.size[0] as number;
  const first = w0 / 4;
  const end = first + words.length / 4;
  gl.bindTexture(gl.TEXTURE_2D, tex.texture);
  let t = first;
  while (t < end) {
    const y = Math.floor(t / width);
    const x = t - y * width;
    // A partial row, or as many whole rows as the range covers.
    let texels: number;
    let rows = 1;
    if (x !== 0 || end - t < width) {
      texels = Math.min(width - x, end - t);
    } else {
      rows = Math.floor((end - t) / width);
      texels = width;
    }
    const at = (t - first) * 4;
    const pixels = words.subarray(at, at + texels * rows * 4);
    gl.texSubImage2D(gl.TEXTURE_2D, 0, x, y, texels, rows, gl.RGBA, gl.FLOAT, pixels);
    t += texels * rows;
  }
  gl.bindTexture(gl.TEXTURE_2D, null);
  return 4 * words.length;
}
