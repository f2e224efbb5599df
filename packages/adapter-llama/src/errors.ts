import { SkvqError, type SkvqErrorCode } from '@skvq/core';

/** Throws a SkvqError; `where` names the file or object that was wrong. */
export function fail(
  code: SkvqErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): never {
  throw new SkvqError(code, message, { details });
}
