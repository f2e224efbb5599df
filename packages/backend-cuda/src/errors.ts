import { SkvqError, type SkvqErrorCode } from '@skvq/core';

/** Bits a kernel ORs into its error word (src/cuda/common.cuh SKVQ_ERR_*). */
export const KERNEL_ERROR_META_RANGE = 1;
export const KERNEL_ERROR_NON_FINITE = 2;
export const KERNEL_ERROR_BAD_CODE = 4;

/** Wraps an addon or driver failure ("CUDA cuX failed: NAME (code): text") as SkvqError. */
export function cudaError(
  error: unknown,
  where: string,
  code: SkvqErrorCode = 'BACKEND_DEVICE_ERROR',
) {
  if (error instanceof SkvqError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SkvqError(code, `cuda backend: ${where}: ${message}`, {
    cause: error,
    details: { where },
  });
}

/** Runs a device call and rethrows its failure as a typed SkvqError. */
export function guard<T>(where: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw cudaError(error, where);
  }
}

/** Throws the SkvqError a kernel's error word stands for (0: nothing to throw). */
export function throwKernelErrors(word: number, where: string): void {
  if (word === 0) return;
  if (word & KERNEL_ERROR_NON_FINITE) {
    throw new SkvqError(
      'NON_FINITE_INPUT',
      `${where}: an input (or a scale/zero derived from it) is NaN or infinite`,
      { details: { errorWord: word } },
    );
  }
  if (word & KERNEL_ERROR_META_RANGE) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: a scale or zero is out of the metadata format's range; the activations are too large for this metadata format (use fp16 or fp32 metadata)`,
      { details: { errorWord: word } },
    );
  }
  if (word & KERNEL_ERROR_BAD_CODE) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: a ternary code byte is above 242 (not five trits); expected 0..242`,
      { details: { errorWord: word } },
    );
  }
  throw new SkvqError('BACKEND_DEVICE_ERROR', `${where}: kernel error word ${word}`);
}
