import { byteAtJs } from './store-bytes.js';

/**
 * Kernels of the storage itself (storage.ts). Outputs are whole buffers: a gpu.js texture
 * is the immutable output of a kernel, so changing any byte of a buffer means one kernel
 * that writes a new texture of the buffer's size (old words where nothing changed).
 */

/** A zero-filled buffer. */
export const ZEROS_SOURCE = `function () {
  return 0;
}`;

/** An uploaded host array as a device texture (the one way gpu.js puts data on the GPU). */
export const UPLOAD_SOURCE = `function (a, n) {
  const i = this.thread.x;
  if (i < n) {
    return a[i];
  }
  return 0;
}`;

/**
 * Write: word i of the new buffer takes its bytes in [b0, b1) from vals[i - w0] (a host
 * array of words that covers them) and its other bytes from the old texture.
 */
export const WRITE_SOURCE = `function (old, vals, w0, n, b0, b1) {
  const i = this.thread.x;
  const ow = old[i];
  if (i < w0 || i >= w0 + n) {
    return ow;
  }
  const oh = Math.floor((ow + 0.5) / 256);
  const nw = vals[i - w0];
  const nh = Math.floor((nw + 0.5) / 256);
  let lo = ow - 256 * oh;
  let hi = oh;
  if (2 * i >= b0 && 2 * i < b1) {
    lo = nw - 256 * nh;
  }
  if (2 * i + 1 >= b0 && 2 * i + 1 < b1) {
    hi = nh;
  }
  return lo + 256 * hi;
}`;

/** Copy: bytes [d0, d1) of the new buffer are bytes [d0 + shift, d1 + shift) of src. */
export const COPY_SOURCE = `function (old, src, d0, d1, shift) {
  const i = this.thread.x;
  const ow = old[i];
  if (2 * i + 1 < d0 || 2 * i >= d1) {
    return ow;
  }
  const oh = Math.floor((ow + 0.5) / 256);
  let lo = ow - 256 * oh;
  let hi = oh;
  if (2 * i >= d0 && 2 * i < d1) {
    ${byteAtJs('src', '2 * i + shift', 'a')}
    lo = a;
  }
  if (2 * i + 1 >= d0 && 2 * i + 1 < d1) {
    ${byteAtJs('src', '2 * i + 1 + shift', 'b')}
    hi = b;
  }
  return lo + 256 * hi;
}`;

/** Read: words w0 .. w0 + n of a buffer (the host turns them into bytes). */
export const READ_SOURCE = `function (src, w0, n) {
  const i = this.thread.x;
  if (i < n) {
    return src[w0 + i];
  }
  return 0;
}`;
