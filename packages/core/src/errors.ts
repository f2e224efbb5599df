/**
 * Every error skvq throws on purpose is a SkvqError with a stable `code`, so callers can
 * branch on it without parsing messages. Messages name the object that was wrong and list
 * what is allowed (DESIGN.md: validate at the edge, never clamp or fall back silently).
 */
export type SkvqErrorCode =
  // input validation
  | 'INVALID_ARGUMENT'
  | 'INVALID_GEOMETRY'
  | 'SHAPE_MISMATCH'
  | 'NON_FINITE_INPUT'
  | 'UNSUPPORTED_BITS'
  | 'UNSUPPORTED_META_FORMAT'
  | 'UNSUPPORTED_OPTION'
  // registry and backends
  | 'DUPLICATE_PLUGIN'
  | 'PLUGIN_NOT_FOUND'
  | 'INVALID_PLUGIN'
  | 'KERNEL_NOT_IMPLEMENTED'
  | 'BACKEND_INIT_FAILED'
  // a device call failed after init (a GPU launch, copy or allocation)
  | 'BACKEND_DEVICE_ERROR'
  // a synchronous call (saveCache) met a storage whose reads are asynchronous (device memory)
  | 'STORAGE_READ_ASYNC'
  | 'NO_USABLE_BACKEND'
  // calibration artifact
  | 'CALIBRATION_MALFORMED'
  | 'CALIBRATION_WRONG_FORMAT'
  | 'CALIBRATION_UNSUPPORTED_VERSION'
  | 'CALIBRATION_GEOMETRY_MISMATCH'
  | 'CALIBRATION_MODEL_MISMATCH'
  | 'CALIBRATION_LAYER_COUNT'
  | 'CALIBRATION_BAD_PERMUTATION'
  | 'CALIBRATION_BAD_GROUPS'
  | 'CALIBRATION_BAD_BITS'
  | 'CALIBRATION_BAD_ALPHA'
  // files: models, caches
  | 'FILE_TRUNCATED'
  | 'FILE_CORRUPTED'
  | 'FILE_BAD_MAGIC'
  | 'FILE_UNSUPPORTED_VERSION'
  | 'FILE_UNSUPPORTED_TYPE'
  | 'FILE_MISSING_KEY'
  | 'CACHE_MISMATCH'
  | 'TOKENIZER_MISMATCH'
  | 'IO_ERROR';

export interface SkvqErrorOptions {
  /** Structured facts for programs: the offending value, what was allowed, indices. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class SkvqError extends Error {
  readonly code: SkvqErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: SkvqErrorCode, message: string, options: SkvqErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkvqError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** A backend was asked for a kernel it does not implement. */
export class KernelNotImplementedError extends SkvqError {
  readonly kernel: string;
  readonly backend: string;

  constructor(kernel: string, backend: string, available: readonly string[]) {
    super(
      'KERNEL_NOT_IMPLEMENTED',
      `backend "${backend}" does not implement kernel "${kernel}"; it implements: ${
        available.length > 0 ? available.join(', ') : '(none)'
      }`,
      { details: { kernel, backend, available } },
    );
    this.name = 'KernelNotImplementedError';
    this.kernel = kernel;
    this.backend = backend;
  }
}

export interface BackendFailure {
  backend: string;
  reason: string;
  error?: unknown;
}

/** No registered backend could be initialised: lists every backend and why it failed. */
export class NoUsableBackendError extends SkvqError {
  readonly failures: readonly BackendFailure[];

  constructor(failures: readonly BackendFailure[]) {
    const lines =
      failures.length === 0
        ? ['no backend is registered; add one with registry.use(backend)']
        : failures.map((f) => `  - ${f.backend}: ${f.reason}`);
    super('NO_USABLE_BACKEND', `no usable backend:\n${lines.join('\n')}`, {
      details: { failures: failures.map((f) => ({ backend: f.backend, reason: f.reason })) },
    });
    this.name = 'NoUsableBackendError';
    this.failures = failures;
  }
}

export function isSkvqError(value: unknown, code?: SkvqErrorCode): value is SkvqError {
  return value instanceof SkvqError && (code === undefined || value.code === code);
}

/** Formats a list of allowed values for error messages: `expected 1.5, 2, 3, 4, 8`. */
export function listAllowed(values: readonly unknown[]): string {
  return values.map((v) => String(v)).join(', ');
}

/** Message text of any thrown value, for aggregated reports. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
