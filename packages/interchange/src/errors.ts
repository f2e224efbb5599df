import { SkvqError, type SkvqErrorCode } from '@skvq/core';

/** What a file error is about: the file always, the tensor when there is one. */
export interface FileErrorContext {
  file: string;
  tensor?: string;
  /** A TensorEntry's name (so an entry can be passed as the context). */
  name?: string;
}

/**
 * Throws a SkvqError whose message starts with `file: tensor "name": ` and whose details
 * carry `file`, `tensor` and whatever was expected, so a user (and a program) can tell which
 * of many capture files is at fault and what would have been accepted.
 */
export function fileError(
  code: SkvqErrorCode,
  where: FileErrorContext,
  message: string,
  details: Record<string, unknown> = {},
): never {
  const tensor = where.tensor ?? where.name;
  const prefix = tensor === undefined ? where.file : `${where.file}: tensor "${tensor}"`;
  throw new SkvqError(code, `${prefix}: ${message}`, {
    details: {
      file: where.file,
      ...(tensor === undefined ? {} : { tensor }),
      ...details,
    },
  });
}

/** Wraps an fs failure as IO_ERROR naming the file. */
export function ioError(file: string, action: string, error: unknown): never {
  throw new SkvqError('IO_ERROR', `${file}: cannot ${action}: ${(error as Error).message}`, {
    details: { file },
    cause: error,
  });
}
