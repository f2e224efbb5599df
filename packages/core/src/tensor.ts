import { SkvqError } from './errors.js';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | Int8Array
  | Int16Array
  | Int32Array;

/** A dense row-major tensor: a typed array plus its shape. */
export interface Tensor<T extends TypedArray = Float32Array> {
  readonly data: T;
  readonly shape: readonly number[];
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Wraps `data` as a tensor of `shape`; throws SHAPE_MISMATCH if the sizes disagree. */
export function tensor<T extends TypedArray>(
  data: T,
  shape: readonly number[],
  name = 'tensor',
): Tensor<T> {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new SkvqError(
        'SHAPE_MISMATCH',
        `${name}: shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`,
        {
          details: { shape },
        },
      );
    }
  }
  const n = elementCount(shape);
  if (data.length !== n) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${name}: shape [${shape.join(', ')}] needs ${n} elements, got ${data.length}`,
      { details: { shape, length: data.length } },
    );
  }
  return { data, shape };
}

/** Throws SHAPE_MISMATCH unless `array.length === expected`. */
export function assertLength(array: ArrayLike<number>, expected: number, name: string): void {
  if (array.length !== expected) {
    throw new SkvqError(
      'SHAPE_MISMATCH',
      `${name} has length ${array.length}; expected ${expected}`,
      {
        details: { name, length: array.length, expected },
      },
    );
  }
}

/**
 * Throws NON_FINITE_INPUT at the first NaN or +-Inf, naming the index: quantizing such a
 * value would silently poison a whole group's scale.
 */
export function assertFinite(array: ArrayLike<number>, name: string): void {
  for (let i = 0; i < array.length; i++) {
    const x = array[i] as number;
    if (!Number.isFinite(x)) {
      throw new SkvqError(
        'NON_FINITE_INPUT',
        `${name}[${i}] is ${x}; only finite values can be cached or quantized`,
        {
          details: { name, index: i, value: x },
        },
      );
    }
  }
}
