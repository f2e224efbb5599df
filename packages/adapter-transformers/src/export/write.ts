import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { llamaTransformersFiles } from './files.js';
import type { ExportableLlama } from './types.js';

/**
 * Writes `model` as a transformers.js model folder under `dir` (config.json,
 * generation_config.json, onnx/model.onnx, tokenizer.json, tokenizer_config.json) and
 * returns the paths written. Load it with `env.localModelPath` = dirname(dir) and the
 * folder's name as the model id, `env.allowRemoteModels = false`.
 */
export function writeTransformersModel(model: ExportableLlama, dir: string): string[] {
  const written: string[] = [];
  for (const [path, contents] of Object.entries(llamaTransformersFiles(model))) {
    const target = join(dir, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, contents);
    written.push(target);
  }
  return written;
}
