import type { LlamaModel } from '@skvq/adapter-llama';
import { CPU_BACKEND_NAME } from '@skvq/backend-cpu';
import { type BackendPlugin, backendLabel, type Registry, SkvqError } from '@skvq/core';
import { type ParsedValues, stringOption } from './args.js';
import type { DownloadOptions } from './download.js';
import type { CliIo } from './io.js';
import { loadModel, resolveModel } from './model-lookup.js';
import { createCliRegistry } from './registry.js';

/** What main() hands each command. */
export interface CommandContext {
  io: CliIo;
  registry: Registry;
  /** Injectable for tests: where the default model is downloaded from. */
  downloadOptions?: DownloadOptions;
}

export function createContext(io: CliIo, downloadOptions?: DownloadOptions): CommandContext {
  return { io, registry: createCliRegistry(), ...(downloadOptions ? { downloadOptions } : {}) };
}

/** Options every model-using command accepts. */
export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  tokenizer: { type: 'string' },
  backend: { type: 'string' },
} as const;

export const MODEL_HELP = `  -m, --model FILE      llama2.c .bin or GGUF model (default: stories260K from
                        $SKVQ_ASSETS/models, ../shared/models, the user cache, else downloaded)
      --tokenizer FILE  llama2.c tokenizer.bin (default: tok512.bin beside the model)
      --backend NAME    compute backend: cpu (default), webgpu, gpujs`;

export const COMMON_HELP = `  -h, --help            show this help
      --json            machine-readable JSON on stdout
  -q, --quiet           no progress on stderr`;

/** Resolves, loads and announces the model; returns it with the backend from the registry. */
export async function openModel(
  ctx: CommandContext,
  values: ParsedValues,
  log: (line: string) => void,
): Promise<{ model: LlamaModel; backend: BackendPlugin; modelPath: string }> {
  const resolved = await resolveModel({
    model: stringOption(values, 'model'),
    tokenizer: stringOption(values, 'tokenizer'),
    env: ctx.io.env,
    cwd: ctx.io.cwd,
    ...(ctx.downloadOptions
      ? { downloadOptions: { ...ctx.downloadOptions, onProgress: log } }
      : { downloadOptions: { onProgress: log } }),
    log,
  });
  const model = await loadModel(ctx.registry, resolved);
  const backend = await resolveCliBackend(ctx.registry, stringOption(values, 'backend'));
  log(
    `model ${model.identity.name} (${model.format}, ${resolved.source}: ${resolved.modelPath}), backend ${backendLabel(backend)}`,
  );
  return { model, backend, modelPath: resolved.modelPath };
}

/**
 * The backend `--backend` names (default `cpu`), initialised; an unknown name is
 * INVALID_ARGUMENT listing the registered ones, and one that cannot run here is the
 * registry's NO_USABLE_BACKEND error saying why.
 */
export async function resolveCliBackend(
  registry: Registry,
  name: string | undefined,
): Promise<BackendPlugin> {
  const chosen = name ?? CPU_BACKEND_NAME;
  const names = registry.list('backend').map((b) => b.name);
  if (!names.includes(chosen)) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `--backend ${chosen} is unknown; expected one of ${names.join(', ')}`,
    );
  }
  return registry.resolveBackend({ only: [chosen] });
}

/** A stderr logger silenced by --quiet / --json. */
export function logger(io: CliIo, values: ParsedValues): (line: string) => void {
  const silent = values.quiet === true || values.json === true;
  return silent ? () => {} : (line) => io.stderr(`${line}\n`);
}
