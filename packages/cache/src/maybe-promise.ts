import type { MaybePromise } from '@skvq/core';

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/**
 * Waits for kernel calls only when a backend is asynchronous (GPU): synchronous backends
 * keep the whole cache operation synchronous.
 */
export function settleAll(results: readonly MaybePromise<unknown>[]): MaybePromise<void> {
  if (!results.some(isThenable)) return;
  return Promise.all(results).then(() => undefined);
}

/** Runs `then` on the value, after it resolves when it is a promise. */
export function afterValue<T>(value: MaybePromise<T>, then: (v: T) => void): MaybePromise<T> {
  if (isThenable(value)) {
    return (value as Promise<T>).then((v) => {
      then(v);
      return v;
    });
  }
  then(value as T);
  return value;
}
