import { SkvqError } from '@skvq/core';
import { nodeBuiltin, nodeProcess } from './environment.js';
import type { WorkerRequest, WorkerResponse } from './messages.js';

/**
 * A fixed set of worker threads running dist/cpu-worker.js (Node worker_threads, or module
 * Web Workers in browsers), each with its queue of pending requests. Node workers are
 * unref'd while idle, so a process whose backend was never disposed still exits.
 */

interface Thread {
  post(request: WorkerRequest, transfer: ArrayBuffer[]): void;
  terminate(): void;
  /** Keep the process alive (Node) while requests are pending. */
  hold(busy: boolean): void;
}

/** A request before the pool numbers it (Omit distributed over the union). */
export type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

type Settle = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void };

/**
 * The worker script next to this module: dist/cpu-worker.js in the built package (the CJS
 * build reads the ESM worker too). From the TypeScript sources (tests) there is none: the
 * caller passes `workerUrl` (a bundle of src/threads/cpu-worker.ts).
 */
export function defaultWorkerUrl(): URL | undefined {
  const here = import.meta.url;
  if (here.endsWith('.ts')) return undefined;
  const url = new URL('./cpu-worker.js', here);
  // A bundler that inlined this module elsewhere (an app's build) may not have emitted the
  // worker beside it: in Node, check, so the backend runs on one thread with that reason
  // instead of failing every job.
  const fs = nodeBuiltin<{ existsSync(path: URL): boolean }>('node:fs');
  if (url.protocol === 'file:' && fs !== undefined && !fs.existsSync(url)) return undefined;
  return url;
}

/** Flags Node does not accept in a worker's execArgv (prefixes). */
const WORKER_REFUSED_FLAGS = [
  '--input-type',
  '--max-old-space-size',
  '--max-semi-space-size',
  '--stack-size',
  '--title',
];

function nodeThread(
  url: URL | string,
  onMessage: (r: WorkerResponse) => void,
  onError: (e: Error) => void,
): Thread {
  type NodeWorker = {
    postMessage(m: unknown, t: ArrayBuffer[]): void;
    on(event: string, f: (x: never) => void): void;
    terminate(): Promise<number>;
    ref(): void;
    unref(): void;
  };
  type WorkerClass = new (url: URL | string, options: { execArgv: string[] }) => NodeWorker;
  const { Worker } = nodeBuiltin<{ Worker: WorkerClass }>('node:worker_threads') as {
    Worker: WorkerClass;
  };
  // Workers inherit the parent's flags (loaders, conditions), but Node refuses some in a
  // worker: --input-type (node -e of a module) and per-process V8 options such as
  // --max-old-space-size (ERR_WORKER_INVALID_EXEC_ARGV). Drop those; if Node still refuses
  // the rest, start the worker without flags.
  const execArgv = ((nodeProcess() as { execArgv?: string[] }).execArgv ?? []).filter(
    (flag) => !WORKER_REFUSED_FLAGS.some((prefix) => flag.startsWith(prefix)),
  );
  const target = typeof url === 'string' && !url.includes(':') ? url : new URL(url);
  let worker: NodeWorker;
  try {
    worker = new Worker(target, { execArgv });
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
    worker = new Worker(target, { execArgv: [] });
  }
  worker.on('message', onMessage as (x: never) => void);
  worker.on('error', onError as (x: never) => void);
  worker.on('exit', ((code: number) => {
    if (code !== 0) onError(new Error(`exited with code ${code}`));
  }) as (x: never) => void);
  worker.unref();
  return {
    post: (request, transfer) => worker.postMessage(request, transfer),
    terminate: () => void worker.terminate(),
    hold: (busy) => (busy ? worker.ref() : worker.unref()),
  };
}

function browserThread(
  url: URL | string | undefined,
  onMessage: (r: WorkerResponse) => void,
  onError: (e: Error) => void,
): Thread {
  // The literal `new Worker(new URL('./cpu-worker.js', import.meta.url))` lets bundlers
  // (Vite, webpack) find and emit the worker script.
  const worker =
    url === undefined
      ? new Worker(new URL('./cpu-worker.js', import.meta.url), { type: 'module' })
      : new Worker(url, { type: 'module' });
  worker.onmessage = (event) => onMessage(event.data as WorkerResponse);
  worker.onerror = (event) => onError(new Error(event.message ?? 'the worker script failed'));
  return {
    post: (request, transfer) => worker.postMessage(request, transfer),
    terminate: () => worker.terminate(),
    hold: () => {},
  };
}

export class WorkerPool {
  private readonly threads: Thread[] = [];
  private readonly pending: Array<Map<number, Settle>> = [];
  private nextId = 1;
  /** Why a worker of this pool failed; the pool then refuses new requests. */
  failure: SkvqError | undefined;

  constructor(size: number, workerUrl: URL | string | undefined) {
    for (let i = 0; i < size; i++) {
      const queue = new Map<number, Settle>();
      this.pending.push(queue);
      const onMessage = (response: WorkerResponse) => {
        const settle = queue.get(response.id);
        if (settle === undefined) return;
        queue.delete(response.id);
        if (queue.size === 0) this.threads[i]?.hold(false);
        settle.resolve(response);
      };
      const onError = (cause: Error) => {
        // A worker that failed (its script did not load, or it died) is not used again: the
        // backend starts a new pool for the next job.
        const error = new SkvqError('BACKEND_DEVICE_ERROR', `cpu worker failed: ${cause.message}`, {
          cause,
        });
        this.failure ??= error;
        for (const settle of queue.values()) settle.reject(error);
        queue.clear();
      };
      const url = workerUrl ?? defaultWorkerUrl();
      if (nodeProcess() !== undefined) {
        if (url === undefined) {
          throw new SkvqError(
            'BACKEND_INIT_FAILED',
            'cpu threads: no worker script (running from TypeScript sources); pass workerUrl',
          );
        }
        this.threads.push(nodeThread(url, onMessage, onError));
      } else {
        this.threads.push(browserThread(workerUrl, onMessage, onError));
      }
    }
  }

  get size(): number {
    return this.threads.length;
  }

  /** Posts a request (its id is assigned here) to worker `index` and awaits its response. */
  run(
    index: number,
    request: WithoutId<WorkerRequest>,
    transfer: ArrayBuffer[],
  ): Promise<WorkerResponse> {
    const thread = this.threads[index] as Thread;
    const queue = this.pending[index] as Map<number, Settle>;
    const id = this.nextId++;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      queue.set(id, { resolve, reject });
      thread.hold(true);
      thread.post({ ...request, id } as WorkerRequest, transfer);
    });
  }

  terminate(): void {
    for (const thread of this.threads) thread.terminate();
    for (const queue of this.pending) {
      for (const settle of queue.values()) {
        settle.reject(new SkvqError('BACKEND_DEVICE_ERROR', 'cpu threads: backend disposed'));
      }
      queue.clear();
    }
    this.threads.length = 0;
  }
}
