import { SkvqError } from '@skvq/core';
import { fileError } from './errors.js';
import type { ActivationSource } from './sources.js';

/**
 * Metadata keys a capture may carry (safetensors `__metadata__`, all values strings, or a
 * folder's metadata.json). Each one can also be given on the command line; a flag that
 * disagrees with the file is an error, never a silent override.
 */
export const METADATA_KEYS = {
  layers: 'layers',
  queryHeads: 'query_heads',
  kvHeads: 'kv_heads',
  headDim: 'head_dim',
  ropeStyle: 'rope_style',
  ropeTheta: 'rope_theta',
  keys: 'keys',
  model: 'model',
  fingerprint: 'fingerprint',
  source: 'source',
} as const;

export type MetadataField = keyof typeof METADATA_KEYS;

/** A value and where it came from, for error messages. */
export interface Sourced<T> {
  value: T;
  from: string;
}

/**
 * The value of one metadata key over every source: sources that set it must agree
 * (`source` may differ: the distinct values are joined with "; ").
 */
export function metadataValue(
  sources: readonly ActivationSource[],
  field: MetadataField,
): Sourced<string> | undefined {
  const key = METADATA_KEYS[field];
  let found: Sourced<string> | undefined;
  const all: string[] = [];
  for (const s of sources) {
    const v = s.metadata[key];
    if (v === undefined) continue;
    if (!all.includes(v)) all.push(v);
    if (found === undefined) found = { value: v, from: `metadata ${key} of ${s.metadataFile}` };
    else if (found.value !== v && field !== 'source') {
      fileError(
        'INVALID_ARGUMENT',
        { file: s.metadataFile },
        `metadata ${key} is "${v}" but ${found.from} says "${found.value}"; every file of one capture must agree`,
        {
          key,
          expected: found.value,
          actual: v,
        },
      );
    }
  }
  if (found && field === 'source') found.value = all.join('; ');
  return found;
}

/** Parses a metadata value as a positive integer (FILE_CORRUPTED naming the file if not). */
export function metadataInt(v: Sourced<string> | undefined): Sourced<number> | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new SkvqError(
      'FILE_CORRUPTED',
      `${v.from} is "${v.value}"; expected a positive integer`,
      {
        details: { from: v.from, actual: v.value },
      },
    );
  }
  return { value: n, from: v.from };
}

/**
 * One geometry field from a flag and/or the metadata: they must agree when both are given.
 * Returns undefined when neither is.
 */
export function agree<T>(
  flag: T | undefined,
  flagName: string,
  meta: Sourced<T> | undefined,
): Sourced<T> | undefined {
  if (flag !== undefined && meta !== undefined && flag !== meta.value) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${flagName} ${String(flag)} disagrees with ${meta.from} (${String(meta.value)}); drop the flag or fix the file`,
      {
        details: { flag: flagName, expected: meta.value, actual: flag },
      },
    );
  }
  if (flag !== undefined) return { value: flag, from: flagName };
  return meta;
}
