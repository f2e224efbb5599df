import { type MetaFormat, SUPPORTED_META_FORMATS } from './bits.js';
import type { CalibrationArtifact, ModelIdentity } from './calibration.js';
import { describeValue, MAX_CALIBRATION_STRING } from './calibration-limits.js';
import { listAllowed, SkvqError } from './errors.js';
import type { KvGeometry } from './geometry.js';

/**
 * Field checks of a calibration artifact outside its per-stream calibrations. Each
 * returns a fresh object holding only the known fields: unknown keys are DROPPED (a newer
 * writer may add fields; nothing unvalidated reaches saveCache or a cache).
 */

/** Largest alpha grid (the clip search tries each ratio once per stream). */
export const MAX_ALPHA_GRID = 1024;
/** Largest nominal group size, restarts count: far past any useful setting. */
const MAX_GROUP_SIZE = 1 << 20;
const MAX_RESTARTS = 1 << 20;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('CALIBRATION_MALFORMED', `calibration artifact: ${message}`, { details });
}

export function boundedString(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length > MAX_CALIBRATION_STRING) {
    malformed(
      `${where} is ${describeValue(value)}; expected a string of at most ${MAX_CALIBRATION_STRING} characters`,
      { where },
    );
  }
  return value;
}

function integerIn(value: unknown, min: number, max: number, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    malformed(`${where} is ${describeValue(value)}; expected an integer in ${min}..${max}`, {
      where,
    });
  }
  return value;
}

/** An array of 1..MAX_ALPHA_GRID clip ratios in (0, 1]. */
export function alphaList(value: unknown, where: string): number[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ALPHA_GRID) {
    malformed(
      `${where} is ${describeValue(value)}; expected an array of 1..${MAX_ALPHA_GRID} clip ratios`,
      { where },
    );
  }
  value.forEach((a, i) => {
    if (typeof a !== 'number' || !(a > 0 && a <= 1)) {
      malformed(`${where}[${i}] is ${describeValue(a)}; expected a clip ratio in (0, 1]`, {
        where,
        index: i,
      });
    }
  });
  return value.slice() as number[];
}

/** The clip search's record: as many finite, non-negative errors as grid ratios. */
export function alphaSearchOf(value: unknown, where: string): { grid: number[]; errors: number[] } {
  if (!isObject(value)) {
    malformed(`${where} is ${describeValue(value)}; expected { grid, errors }`, { where });
  }
  const grid = alphaList(value.grid, `${where}.grid`);
  const errors = value.errors;
  if (!Array.isArray(errors) || errors.length !== grid.length) {
    malformed(
      `${where}.errors is ${describeValue(errors)}; expected an array of ${grid.length} errors (one per grid ratio)`,
      { where },
    );
  }
  errors.forEach((e, i) => {
    if (typeof e !== 'number' || !Number.isFinite(e) || e < 0) {
      malformed(
        `${where}.errors[${i}] is ${describeValue(e)}; expected a finite non-negative number`,
        { where, index: i },
      );
    }
  });
  return { grid, errors: errors.slice() as number[] };
}

export function modelOf(value: unknown): ModelIdentity {
  if (!isObject(value)) {
    malformed(`model is ${describeValue(value)}; expected { name: string, fingerprint: string }`);
  }
  return {
    name: boundedString(value.name, 'model.name'),
    fingerprint: boundedString(value.fingerprint, 'model.fingerprint'),
  };
}

export function settingsOf(value: unknown): CalibrationArtifact['settings'] {
  if (!isObject(value)) malformed(`settings is ${describeValue(value)}; expected an object`);
  const meta = value.meta;
  if (typeof meta !== 'string' || !SUPPORTED_META_FORMATS.includes(meta as MetaFormat)) {
    malformed(
      `settings.meta is ${describeValue(meta)}; expected ${listAllowed(SUPPORTED_META_FORMATS)}`,
    );
  }
  const grouping = value.grouping;
  if (grouping !== 'cluster' && grouping !== 'equal') {
    malformed(`settings.grouping is ${describeValue(grouping)}; expected cluster, equal`);
  }
  return {
    groupSize: integerIn(value.groupSize, 1, MAX_GROUP_SIZE, 'settings.groupSize'),
    grouping,
    meta: meta as MetaFormat,
    seed: integerIn(value.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'settings.seed'),
    restarts: integerIn(value.restarts, 1, MAX_RESTARTS, 'settings.restarts'),
    alphaGrid: alphaList(value.alphaGrid, 'settings.alphaGrid'),
  };
}

export function dataOf(value: unknown): CalibrationArtifact['data'] {
  if (!isObject(value)) {
    malformed(`data is ${describeValue(value)}; expected { source: string, tokens: number }`);
  }
  return {
    source: boundedString(value.source, 'data.source'),
    tokens: integerIn(value.tokens, 0, Number.MAX_SAFE_INTEGER, 'data.tokens'),
  };
}

/**
 * The geometry fields copied as primitives (validateGeometry then checks their values):
 * a nested object in a count would otherwise reach String() inside its message.
 */
export function geometryFieldsOf(value: unknown): KvGeometry {
  if (!isObject(value)) malformed(`geometry is ${describeValue(value)}; expected an object`);
  const rope = value.rope;
  if (!isObject(rope)) malformed(`geometry.rope is ${describeValue(rope)}; expected an object`);
  const out: Record<string, unknown> = {};
  for (const field of ['layers', 'queryHeads', 'kvHeads', 'headDim'] as const) {
    if (typeof value[field] !== 'number') {
      malformed(`geometry.${field} is ${describeValue(value[field])}; expected a positive integer`);
    }
    out[field] = value[field];
  }
  if (typeof rope.style !== 'string' || rope.style.length > 16) {
    malformed(`geometry.rope.style is ${describeValue(rope.style)}; expected pairwise, half, none`);
  }
  // theta may be absent only without rotation (validateGeometry checks it otherwise)
  if (typeof rope.theta !== 'number' && !(rope.style === 'none' && rope.theta === undefined)) {
    malformed(`geometry.rope.theta is ${describeValue(rope.theta)}; expected a number`);
  }
  out.rope =
    rope.theta === undefined ? { style: rope.style } : { style: rope.style, theta: rope.theta };
  return out as unknown as KvGeometry;
}
