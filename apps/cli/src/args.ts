import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type BitWidth, isBitWidth, type MetaFormat, SUPPORTED_META_FORMATS } from '@skvq/core';
import { UsageError } from './errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const satisfies OptionSpec;

/** node:util parseArgs with its errors turned into usage errors naming the command. */
export function parseCommandArgs(
  command: string,
  argv: readonly string[],
  options: OptionSpec,
  allowPositionals = false,
): { values: ParsedValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals,
      strict: true,
    });
    return { values: values as ParsedValues, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/s, ''), command);
  }
}

export function stringOption(values: ParsedValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** An integer option within [min, max]; `fallback` when absent. */
export function intOption(
  values: ParsedValues,
  name: string,
  fallback: number,
  command: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = stringOption(values, name);
  if (raw === undefined) return fallback;
  return parseIntStrict(raw, `--${name}`, command, min, max);
}

export function parseIntStrict(
  raw: string,
  what: string,
  command: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${what} must be an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? 'inf' : max}, got "${raw}"`,
      command,
    );
  }
  return n;
}

/** A comma-separated list of integers (e.g. --window 0,32). */
export function intListOption(
  values: ParsedValues,
  name: string,
  fallback: readonly number[],
  command: string,
  min = 0,
): number[] {
  const raw = stringOption(values, name);
  if (raw === undefined) return [...fallback];
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s.length === 0)) {
    throw new UsageError(`--${name} has an empty entry: "${raw}"`, command);
  }
  return items.map((s) => parseIntStrict(s, `--${name}`, command, min));
}

export function metaOption(
  values: ParsedValues,
  command: string,
  fallback: MetaFormat = 'fp16',
): MetaFormat {
  const raw = stringOption(values, 'meta') ?? fallback;
  if (!SUPPORTED_META_FORMATS.includes(raw as MetaFormat)) {
    throw new UsageError(
      `--meta ${raw} is not a metadata format; expected ${SUPPORTED_META_FORMATS.join(', ')}`,
      command,
    );
  }
  return raw as MetaFormat;
}

export const BITS_FORMS = '8, 4, 3, 2, 1.5';

/** One bit width written as in the method names: 8, 4, 3, 2 or 1.5. */
export function parseBits(raw: string, what: string, command: string): BitWidth {
  const n = Number(raw);
  if (raw.trim() === '' || !isBitWidth(n)) {
    throw new UsageError(`${what} "${raw}" is not a bit width; expected ${BITS_FORMS}`, command);
  }
  return n;
}

/** `K2V1.5` (case-insensitive): key bits and value bits. */
export function parseKvBits(raw: string, command: string): { k: BitWidth; v: BitWidth } {
  const m = /^k([\d.]+)v([\d.]+)$/i.exec(raw.trim());
  if (!m) {
    throw new UsageError(
      `--bits "${raw}" is not of the form K<bits>V<bits> (e.g. K2V1.5) with bits in ${BITS_FORMS}`,
      command,
    );
  }
  return {
    k: parseBits(m[1]!, '--bits key width', command),
    v: parseBits(m[2]!, '--bits value width', command),
  };
}

/** A comma-separated list of clip ratios in (0, 1]. */
export function parseAlphaGrid(raw: string, command: string): number[] {
  const grid = raw.split(',').map((s) => Number(s.trim()));
  if (grid.length === 0 || grid.some((a) => !(a > 0 && a <= 1))) {
    throw new UsageError(
      `--alpha-grid "${raw}" must be comma-separated clip ratios in (0, 1], e.g. 0.8,0.9,1`,
      command,
    );
  }
  return grid;
}

export function choiceOption<T extends string>(
  values: ParsedValues,
  name: string,
  choices: readonly T[],
  fallback: T,
  command: string,
): T {
  const raw = stringOption(values, name) ?? fallback;
  if (!choices.includes(raw as T)) {
    throw new UsageError(
      `--${name} ${raw} is not allowed; expected ${choices.join(', ')}`,
      command,
    );
  }
  return raw as T;
}
