import { SkvqError } from './errors.js';

/**
 * Bounds that keep parseCalibration linear in its input and safe on hostile input: the
 * JSON text is size- and depth-limited before JSON.parse, an already-parsed value is
 * walked iteratively under the same limits, and messages describe offending values
 * without serialising them (String() of a deeply nested array overflows the stack).
 *
 * A real artifact is 6 levels deep (artifact > layers > [i] > k > alphaSearch > grid) and
 * holds 2 x layers x kvHidden permutation entries: a few MB for the largest models.
 */
export const MAX_CALIBRATION_CHARS = 64 * 1024 * 1024;
export const MAX_CALIBRATION_DEPTH = 16;
/** Values (objects, arrays and scalars) in one artifact. */
export const MAX_CALIBRATION_VALUES = 16 * 1024 * 1024;
/** Longest accepted string field (names, fingerprints, sources, dates). */
export const MAX_CALIBRATION_STRING = 4096;

function malformed(message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError('CALIBRATION_MALFORMED', `calibration artifact: ${message}`, { details });
}

/** A short, bounded description of an untrusted value for an error message. */
export function describeValue(value: unknown): string {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (value === undefined) return 'missing';
  if (typeof value === 'string') {
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `an array of ${value.length} entries`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Refuses JSON text past MAX_CALIBRATION_CHARS or nested past MAX_CALIBRATION_DEPTH,
 * scanning brackets outside strings (one pass, no recursion) before JSON.parse runs.
 */
export function checkCalibrationText(text: string): void {
  if (text.length > MAX_CALIBRATION_CHARS) {
    malformed(
      `the JSON text has ${text.length} characters; at most ${MAX_CALIBRATION_CHARS} are read`,
      { length: text.length, max: MAX_CALIBRATION_CHARS },
    );
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_CALIBRATION_DEPTH) {
        malformed(
          `the JSON nests deeper than ${MAX_CALIBRATION_DEPTH} levels (at character ${i})`,
          {
            maxDepth: MAX_CALIBRATION_DEPTH,
          },
        );
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/**
 * Walks an already-parsed value (iteratively) and refuses one that JSON could not have
 * produced or that breaks the limits: nesting, total values, non-JSON types, cycles.
 */
export function checkCalibrationValue(root: unknown): void {
  const stack: Array<[unknown, number]> = [[root, 0]];
  let values = 0;
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (++values > MAX_CALIBRATION_VALUES) {
      malformed(`holds more than ${MAX_CALIBRATION_VALUES} values`, {
        max: MAX_CALIBRATION_VALUES,
      });
    }
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') continue;
    if (typeof value !== 'object') malformed(`holds ${describeValue(value)}, not a JSON value`);
    if (depth >= MAX_CALIBRATION_DEPTH) {
      malformed(`nests deeper than ${MAX_CALIBRATION_DEPTH} levels`, {
        maxDepth: MAX_CALIBRATION_DEPTH,
      });
    }
    if (Array.isArray(value)) {
      // the length is checked before iterating: a sparse array may claim 2^32 - 1 entries
      if (value.length > MAX_CALIBRATION_VALUES - values) {
        malformed(`holds ${describeValue(value)}, more than ${MAX_CALIBRATION_VALUES} values`);
      }
      for (let i = 0; i < value.length; i++) stack.push([value[i], depth + 1]);
    } else {
      for (const key of Object.keys(value)) {
        stack.push([(value as Record<string, unknown>)[key], depth + 1]);
      }
    }
  }
}
