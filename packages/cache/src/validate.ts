import {
  assertFinite,
  assertLength,
  type KvGeometry,
  kvHidden,
  listAllowed,
  queryHidden,
  SkvqError,
} from '@skvq/core';
import { checkPositionLimit } from './limits.js';

/** Throws INVALID_ARGUMENT unless `layer` is an integer in [0, layers). */
export function checkLayer(geometry: KvGeometry, layer: number, where: string): void {
  if (!Number.isInteger(layer) || layer < 0 || layer >= geometry.layers) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: layer ${String(layer)} is out of range; expected an integer in 0..${geometry.layers - 1}`,
      { details: { layer, layers: geometry.layers } },
    );
  }
}

function checkPositiveInt(value: number, name: string, where: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: ${name} is ${String(value)}; expected a positive integer`,
      { details: { name, value } },
    );
  }
}

/**
 * Throws NON_FINITE_INPUT (naming the first bad index) when `a` holds NaN or +-Inf. The
 * fast pass sums x * 0, which is 0 for every finite x and NaN otherwise; only a failing
 * array is scanned again by core's assertFinite for the message.
 */
export function assertAllFinite(a: Float32Array, name: string): void {
  // Four independent sums so the additions pipeline instead of waiting on each other.
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n = a.length;
  const end4 = n - (n % 4);
  for (let i = 0; i < end4; i += 4) {
    a0 += a[i]! * 0;
    a1 += a[i + 1]! * 0;
    a2 += a[i + 2]! * 0;
    a3 += a[i + 3]! * 0;
  }
  for (let i = end4; i < n; i++) a0 += a[i]! * 0;
  if (a0 + a1 + a2 + a3 !== 0) assertFinite(a, name);
}

/** Validates an append's arguments (shape and finiteness) before any state changes. */
export function checkAppend(
  geometry: KvGeometry,
  layer: number,
  k: Float32Array,
  v: Float32Array,
  count: number,
  where: string,
): void {
  checkLayer(geometry, layer, where);
  checkPositiveInt(count, 'count', where);
  if (!(k instanceof Float32Array) || !(v instanceof Float32Array)) {
    throw new SkvqError('INVALID_ARGUMENT', `${where}: k and v must be Float32Arrays`);
  }
  const n = count * kvHidden(geometry);
  assertLength(k, n, `${where} k ([count=${count}, kvHidden=${kvHidden(geometry)}])`);
  assertLength(v, n, `${where} v ([count=${count}, kvHidden=${kvHidden(geometry)}])`);
  assertAllFinite(k, `${where} k`);
  assertAllFinite(v, `${where} v`);
}

/** Validates a decode query: q is [queryHeads*headDim], position >= length - 1. */
export function checkAttend(
  geometry: KvGeometry,
  layer: number,
  q: Float32Array,
  position: number,
  length: number,
  where: string,
): void {
  checkLayer(geometry, layer, where);
  if (!(q instanceof Float32Array)) {
    throw new SkvqError('INVALID_ARGUMENT', `${where}: q must be a Float32Array`);
  }
  assertLength(q, queryHidden(geometry), `${where} q ([queryHeads*headDim])`);
  assertAllFinite(q, `${where} q`);
  if (length === 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: layer ${layer} holds no tokens; append the current token before attending`,
      { details: { layer } },
    );
  }
  if (!Number.isInteger(position) || position < length - 1) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: position ${String(position)} cannot see all ${length} cached tokens; expected an integer >= ${length - 1}`,
      { details: { position, length } },
    );
  }
  checkPositionLimit(position, where);
}

/** Validates a prefill read: queries start .. start+count-1 must already be appended. */
export function checkAttendPrefill(
  geometry: KvGeometry,
  layer: number,
  q: Float32Array,
  start: number,
  count: number,
  length: number,
  where: string,
): void {
  checkLayer(geometry, layer, where);
  checkPositiveInt(count, 'count', where);
  if (!(q instanceof Float32Array)) {
    throw new SkvqError('INVALID_ARGUMENT', `${where}: q must be a Float32Array`);
  }
  assertLength(q, count * queryHidden(geometry), `${where} q ([count, queryHeads*headDim])`);
  assertAllFinite(q, `${where} q`);
  if (!Number.isInteger(start) || start < 0 || start + count > length) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: queries ${String(start)}..${start + count - 1} are not all cached (layer ${layer} holds ${length} tokens); append them first`,
      { details: { start, count, length } },
    );
  }
}

/** Throws UNSUPPORTED_OPTION unless `value` is one of `allowed`. */
export function checkOption<T>(value: T, allowed: readonly T[], name: string, where: string): void {
  if (!allowed.includes(value)) {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `${where}: ${name} is ${String(value)}; expected ${listAllowed(allowed)}`,
      { details: { name, value, allowed } },
    );
  }
}

export function checkPositiveIntOption(value: number, name: string, where: string): void {
  checkPositiveInt(value, name, where);
}
