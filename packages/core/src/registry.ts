import {
  type BackendFailure,
  describeError,
  KernelNotImplementedError,
  listAllowed,
  NoUsableBackendError,
  SkvqError,
} from './errors.js';
import { KERNEL_NAMES, type KernelName, type Kernels } from './kernels.js';
import {
  type BackendPlugin,
  PLUGIN_KINDS,
  type Plugin,
  type PluginByKind,
  type PluginKind,
} from './plugins.js';

export interface ResolveBackendOptions {
  /** Only consider these backends, in this order of preference (before priority). */
  only?: readonly string[];
  /** Kernels the caller needs: a backend lacking one is skipped with that reason. */
  requireKernels?: readonly KernelName[];
}

export interface Registry {
  /** Adds a plugin; throws DUPLICATE_PLUGIN if its kind already has that name. */
  use(plugin: Plugin): Registry;
  has(kind: PluginKind, name: string): boolean;
  /** Throws PLUGIN_NOT_FOUND listing the names that exist. */
  get<K extends PluginKind>(kind: K, name: string): PluginByKind[K];
  list<K extends PluginKind>(kind: K): PluginByKind[K][];
  /**
   * The usable backend of highest priority: tries each in turn, awaits its init(),
   * remembers failures (a failed backend is not retried by this registry), and throws one
   * NoUsableBackendError listing every backend and why it failed when none works.
   */
  resolveBackend(options?: ResolveBackendOptions): Promise<BackendPlugin>;
  /** Why each backend failed so far (empty when none did). */
  backendFailures(): readonly BackendFailure[];
  /** Disposes every backend that was initialised. */
  dispose(): Promise<void>;
}

function validatePlugin(plugin: Plugin): void {
  const p = plugin as unknown as Record<string, unknown>;
  if (!p || typeof p !== 'object') {
    throw new SkvqError('INVALID_PLUGIN', `a plugin must be an object, got ${String(plugin)}`);
  }
  if (!PLUGIN_KINDS.includes(p.kind as PluginKind)) {
    throw new SkvqError(
      'INVALID_PLUGIN',
      `plugin "${String(p.name)}" has kind ${String(p.kind)}; expected ${listAllowed(PLUGIN_KINDS)}`,
      { details: { kind: p.kind } },
    );
  }
  if (typeof p.name !== 'string' || p.name.length === 0) {
    throw new SkvqError(
      'INVALID_PLUGIN',
      `a ${String(p.kind)} plugin needs a non-empty string name`,
    );
  }
  if (p.kind === 'backend') {
    if (typeof p.priority !== 'number' || !Number.isFinite(p.priority)) {
      throw new SkvqError('INVALID_PLUGIN', `backend "${p.name}" needs a finite numeric priority`);
    }
    if (!p.kernels || typeof p.kernels !== 'object') {
      throw new SkvqError('INVALID_PLUGIN', `backend "${p.name}" needs a kernels object`);
    }
  }
}

/** Kernel names a backend implements. */
export function implementedKernels(backend: Pick<BackendPlugin, 'kernels'>): KernelName[] {
  return KERNEL_NAMES.filter((name) => typeof backend.kernels[name] === 'function');
}

/** The kernel `name` of `backend`, or a KernelNotImplementedError naming both. */
export function getKernel<N extends KernelName>(
  backend: Pick<BackendPlugin, 'name' | 'kernels'>,
  name: N,
): NonNullable<Kernels[N]> {
  const kernel = backend.kernels[name];
  if (typeof kernel !== 'function') {
    throw new KernelNotImplementedError(name, backend.name, implementedKernels(backend));
  }
  return kernel.bind(backend.kernels) as NonNullable<Kernels[N]>;
}

/** A new, empty registry. There is no global one: every caller owns its registry. */
export function createRegistry(): Registry {
  const plugins = new Map<PluginKind, Map<string, Plugin>>();
  for (const kind of PLUGIN_KINDS) plugins.set(kind, new Map());
  const failed = new Map<string, BackendFailure>();
  const ready = new Set<BackendPlugin>();

  const registry: Registry = {
    use(plugin) {
      validatePlugin(plugin);
      const byName = plugins.get(plugin.kind)!;
      if (byName.has(plugin.name)) {
        throw new SkvqError(
          'DUPLICATE_PLUGIN',
          `a ${plugin.kind} plugin named "${plugin.name}" is already registered`,
          { details: { kind: plugin.kind, name: plugin.name } },
        );
      }
      byName.set(plugin.name, plugin);
      return registry;
    },
    has(kind, name) {
      return plugins.get(kind)?.has(name) ?? false;
    },
    get(kind, name) {
      const byName = plugins.get(kind);
      if (!byName) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `unknown plugin kind ${String(kind)}; expected ${listAllowed(PLUGIN_KINDS)}`,
        );
      }
      const plugin = byName.get(name);
      if (!plugin) {
        const names = [...byName.keys()];
        throw new SkvqError(
          'PLUGIN_NOT_FOUND',
          `no ${kind} plugin named "${name}"; registered: ${names.length > 0 ? names.join(', ') : '(none)'}`,
          { details: { kind, name, registered: names } },
        );
      }
      return plugin as PluginByKind[typeof kind];
    },
    list(kind) {
      return [...(plugins.get(kind)?.values() ?? [])] as PluginByKind[typeof kind][];
    },
    async resolveBackend(options = {}) {
      let candidates = registry.list('backend');
      if (options.only) {
        const order = options.only;
        for (const name of order) registry.get('backend', name);
        candidates = candidates
          .filter((b) => order.includes(b.name))
          .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
      } else {
        // Stable sort: equal priorities keep registration order.
        candidates = [...candidates].sort((a, b) => b.priority - a.priority);
      }
      const report: BackendFailure[] = [];
      for (const backend of candidates) {
        const missing = (options.requireKernels ?? []).filter(
          (name) => typeof backend.kernels[name] !== 'function',
        );
        if (missing.length > 0) {
          report.push({ backend: backend.name, reason: `lacks kernel(s) ${missing.join(', ')}` });
          continue;
        }
        if (ready.has(backend)) return backend;
        const earlier = failed.get(backend.name);
        if (earlier) {
          report.push(earlier);
          continue;
        }
        try {
          await backend.init?.();
          ready.add(backend);
          return backend;
        } catch (error) {
          const failure = {
            backend: backend.name,
            reason: `init() failed: ${describeError(error)}`,
            error,
          };
          failed.set(backend.name, failure);
          report.push(failure);
        }
      }
      throw new NoUsableBackendError(report);
    },
    backendFailures() {
      return [...failed.values()];
    },
    async dispose() {
      const errors: unknown[] = [];
      for (const backend of ready) {
        try {
          await backend.dispose?.();
        } catch (error) {
          errors.push(error);
        }
      }
      ready.clear();
      if (errors.length > 0) {
        throw new SkvqError(
          'BACKEND_INIT_FAILED',
          `dispose failed for ${errors.length} backend(s): ${errors.map(describeError).join('; ')}`,
        );
      }
    },
  };
  return registry;
}
