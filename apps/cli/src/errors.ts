import { isSkvqError, type SkvqErrorCode } from '@skvq/core';

/** Exit codes of `skvq` (documented in --help). */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/** A mistake in the command line: exit code 2, the message and a pointer to --help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What to do about each expected error, appended to its message. */
const HINTS: Partial<Record<SkvqErrorCode, string>> = {
  CALIBRATION_MODEL_MISMATCH:
    'calibrate this model first: skvq calibrate --model MODEL --out calib.json',
  CALIBRATION_GEOMETRY_MISMATCH:
    'the artifact belongs to another model; calibrate this one with skvq calibrate',
  CALIBRATION_BAD_BITS:
    'calibrate at the bits you evaluate (skvq calibrate --bits K2V1.5), or omit --calib to calibrate on the fly',
  CALIBRATION_MALFORMED: 'the file is not a calibration artifact written by skvq calibrate',
  CALIBRATION_WRONG_FORMAT: 'the file is not a calibration artifact written by skvq calibrate',
  IO_ERROR: 'check the path and its permissions',
  FILE_BAD_MAGIC: 'skvq inspect reads llama2.c .bin, GGUF, calibration JSON and saved caches',
  FILE_TRUNCATED: 'the file is incomplete; download or write it again',
  FILE_CORRUPTED: 'the file is damaged; download or write it again',
  TOKENIZER_MISMATCH: 'give the tokenizer that belongs to this model with --tokenizer',
  UNSUPPORTED_BITS: 'bits are one of 8, 4, 3, 2, 1.5',
};

/** For codes without a specific hint: where the options are documented. */
const DEFAULT_HINT = 'check the command line against skvq <command> --help';

export interface FormattedError {
  text: string;
  exitCode: number;
}

/**
 * Turns a thrown value into the text printed on stderr and the exit code: usage errors and
 * SkvqErrors print their message and a hint, never a stack; anything else is a bug and
 * keeps its stack so it can be reported.
 */
export function formatError(error: unknown): FormattedError {
  if (error instanceof UsageError) {
    const help = error.command ? `skvq ${error.command} --help` : 'skvq --help';
    return { text: `skvq: ${error.message}\n(see ${help})\n`, exitCode: EXIT_USAGE };
  }
  if (isSkvqError(error)) {
    const hint = HINTS[error.code] ?? DEFAULT_HINT;
    return {
      text: `skvq: error ${error.code}: ${error.message}\nhint: ${hint}\n`,
      exitCode: EXIT_RUNTIME,
    };
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { text: `skvq: unexpected error (please report it):\n${stack}\n`, exitCode: EXIT_RUNTIME };
}
