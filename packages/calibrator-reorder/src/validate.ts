import { SkvqError } from '@skvq/core';

export function invalid(
  where: string,
  message: string,
  details: Record<string, unknown> = {},
): never {
  throw new SkvqError('INVALID_ARGUMENT', `${where}: ${message}`, { details });
}

/** Throws INVALID_ARGUMENT unless n is an integer >= min. */
export function assertInt(n: unknown, min: number, name: string, where: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
    invalid(where, `${name} is ${String(n)}; expected an integer >= ${min}`, { [name]: n });
  }
  return n;
}
