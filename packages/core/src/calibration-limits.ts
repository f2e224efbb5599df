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

/** Longest accepted array (a permutation has kvHidden entries: far below this). */
export const MAX_CALIBRATION_ARRAY = 1 << 20;

function checkScalar(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return true;
  if (typeof value !== 'object') malformed(`holds ${describeValue(value)}, not a JSON value`);
  return false;
}

/**
 * Walks an already-parsed value (iteratively; scalars checked in place, only objects and
 * arrays stacked) and refuses one that JSON could not have produced or that breaks the
 * limits: nesting, array length, total values, non-JSON types.
 */
export function checkCalibrationValue(root: unknown): void {
  if (checkScalar(root)) return;
  const stack: Array<[object, number]> = [[root as object, 0]];
  let values = 1;
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [object, number];
    if (depth >= MAX_CALIBRATION_DEPTH) {
      malformed(`nests deeper than ${MAX_CALIBRATION_DEPTH} levels`, {
        maxDepth: MAX_CALIBRATION_DEPTH,
      });
    }
    let children: unknown[];
    const isArray = Array.isArray(value);
    if (isArray) {
      // the length is checked before iterating: a sparse array may claim 2^32 - 1 entries
      if (value.length > MAX_CALIBRATION_ARRAY) {
        malformed(`holds ${describeValue(value)}; arrays have at most ${MAX_CALIBRATION_ARRAY}`, {
          max: MAX_CALIBRATION_ARRAY,
        });
      }
      children = value;
    } else {
      // an absent optional field built in code (`createdAt: undefined`) is no JSON value: skipped
      children = Object.values(value).filter((v) => v !== undefined);
    }
    values += children.length;
    if (values > MAX_CALIBRATION_VALUES) {
      malformed(`holds more than ${MAX_CALIBRATION_VALUES} values`, {
        max: MAX_CALIBRATION_VALUES,
      });
    }
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (!checkScalar(child)) stack.push([child as object, depth + 1]);
    }
  }
}
