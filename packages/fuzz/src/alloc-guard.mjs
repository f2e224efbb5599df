/**
 * Counts the bytes of every typed array and ArrayBuffer the code under test allocates (the
 * parsers size them from untrusted counts), by replacing the global constructors with
 * proxies: code resolves `Float32Array` & co. at call time, so the packages' dist code is
 * measured too. One allocation past SINGLE_ALLOCATION_LIMIT, or a case's total past
 * TOTAL_ALLOCATION_LIMIT, throws instead of taking the memory (the fuzzer shares its
 * machine): the case counts as an oversized allocation.
 */

export const SINGLE_ALLOCATION_LIMIT = 256 * 1024 * 1024;
/** Bytes one case may allocate in all (many small allocations are a storm too). */
export const TOTAL_ALLOCATION_LIMIT = 1024 * 1024 * 1024;

export class AllocationLimitError extends Error {
  constructor(bytes) {
    super(`allocation of ${bytes} bytes refused by the fuzz guard`);
    this.name = 'AllocationLimitError';
    this.bytes = bytes;
  }
}

export const meter = { total: 0, peak: 0, refused: 0 };

export function resetMeter() {
  meter.total = 0;
  meter.peak = 0;
  meter.refused = 0;
}

function refuse(bytes) {
  meter.refused = Math.max(meter.refused, bytes);
  throw new AllocationLimitError(bytes);
}

function count(bytes) {
  if (!(bytes > 0)) return;
  if (bytes > SINGLE_ALLOCATION_LIMIT) refuse(bytes);
  if (meter.total + bytes > TOTAL_ALLOCATION_LIMIT) refuse(meter.total + bytes);
  meter.total += bytes;
  if (bytes > meter.peak) meter.peak = bytes;
}

const TYPED = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

let installed = false;

/** Installs the counting proxies once per process. */
export function installAllocationGuard() {
  if (installed) return;
  installed = true;
  for (const name of TYPED) {
    const Target = globalThis[name];
    globalThis[name] = new Proxy(Target, {
      construct(target, args, newTarget) {
        const first = args[0];
        if (typeof first === 'number') count(first * target.BYTES_PER_ELEMENT);
        else if (first !== null && typeof first === 'object' && !(first instanceof ArrayBuffer)) {
          const length = first.length;
          if (typeof length === 'number') count(length * target.BYTES_PER_ELEMENT);
        }
        return Reflect.construct(target, args, newTarget === globalThis[name] ? target : newTarget);
      },
    });
  }
  const Buffer = globalThis.ArrayBuffer;
  globalThis.ArrayBuffer = new Proxy(Buffer, {
    construct(target, args, newTarget) {
      if (typeof args[0] === 'number') count(args[0]);
      return Reflect.construct(
        target,
        args,
        newTarget === globalThis.ArrayBuffer ? target : newTarget,
      );
    },
  });
  // new Array(n) from an untrusted count (a sparse array costs nothing until filled, so only
  // lengths past the limit are refused)
  const ArrayCtor = globalThis.Array;
  globalThis.Array = new Proxy(ArrayCtor, {
    construct(target, args, newTarget) {
      if (
        args.length === 1 &&
        typeof args[0] === 'number' &&
        args[0] * 8 > SINGLE_ALLOCATION_LIMIT
      ) {
        refuse(args[0] * 8);
      }
      return Reflect.construct(target, args, newTarget === globalThis.Array ? target : newTarget);
    },
    apply(target, thisArg, args) {
      return Reflect.apply(target, thisArg, args);
    },
  });
}
