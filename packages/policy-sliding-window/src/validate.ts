import { SkvqError } from '@skvq/core';

/** Throws INVALID_ARGUMENT unless `value` is a non-negative integer (window, sinks, counts). */
export function assertNonNegativeInt(value: unknown, name: string, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: ${name} is ${String(value)}; expected a non-negative integer`,
      { details: { name, value } },
    );
  }
  return value;
}
