/**
 * What the host offers for threads, without importing Node modules at load time (the
 * package also runs in browsers): Node's built-ins come from process.getBuiltinModule
 * (Node >= 20.16), browsers are read from navigator and crossOriginIsolated.
 */

type NodeProcess = {
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
};

export function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return p?.versions?.node !== undefined ? p : undefined;
}

/** A Node built-in module, or undefined outside Node (or before Node 20.16). */
export function nodeBuiltin<T>(id: string): T | undefined {
  return nodeProcess()?.getBuiltinModule?.(id) as T | undefined;
}

/** Logical cores: os.availableParallelism() in Node, navigator.hardwareConcurrency elsewhere. */
export function availableCores(): number {
  const os = nodeBuiltin<{ availableParallelism?: () => number; cpus: () => unknown[] }>('node:os');
  if (os !== undefined) return os.availableParallelism?.() ?? os.cpus().length;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

/** Why this host cannot run worker threads over shared memory, or undefined when it can. */
export function threadsUnavailableReason(): string | undefined {
  if (nodeProcess() !== undefined) {
    if (nodeBuiltin('node:worker_threads') === undefined) {
      return 'Node without process.getBuiltinModule (needs Node >= 20.16) cannot start workers synchronously';
    }
    return undefined;
  }
  if (typeof (globalThis as { Worker?: unknown }).Worker !== 'function') {
    return 'no Web Workers here';
  }
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== true) {
    return 'the page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp), so SharedArrayBuffer is unavailable';
  }
  if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is unavailable';
  return undefined;
}
