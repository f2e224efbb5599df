/** A Float32Array that grows by doubling: one slice's data texture is assembled in it. */
export class FloatBuffer {
  private data = new Float32Array(1024);
  size = 0;

  /** Reserves n floats; returns their offset (the caller writes them via `array`). */
  reserve(n: number): number {
    const at = this.size;
    if (at + n > this.data.length) {
      let cap = this.data.length;
      while (cap < at + n) cap *= 2;
      const grown = new Float32Array(cap);
      grown.set(this.data.subarray(0, at));
      this.data = grown;
    }
    this.size = at + n;
    return at;
  }

  push(values: ArrayLike<number>): number {
    const at = this.reserve(values.length);
    this.data.set(values, at);
    return at;
  }

  get array(): Float32Array {
    return this.data;
  }

  /** The filled part (at least one float: gpu.js cannot upload an empty array). */
  view(): Float32Array {
    return this.data.subarray(0, Math.max(1, this.size));
  }
}
