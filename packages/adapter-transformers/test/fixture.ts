// Test fixture: stories260K (shared assets) loaded by @skvq/adapter-llama and exported to a
// fresh temporary transformers.js folder; nothing is committed or downloaded.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env } from '@huggingface/transformers';
import { type LlamaModel, loadLlama2c } from '@skvq/adapter-llama';
import {
  requireAsset,
  STORIES_GOLDEN,
  STORIES_MODEL,
  STORIES_TEXT,
  STORIES_TOKENIZER,
} from '@skvq/test-assets';
import { writeTransformersModel } from '../src/export.js';

export interface Golden {
  encode: { text: string; ids: number[]; argmax_next_per_position: number[] };
  greedy_from_bos: { steps: number; ids: number[]; text: string };
}

export const golden = (): Golden =>
  JSON.parse(readFileSync(requireAsset(STORIES_GOLDEN), 'utf8')) as Golden;
export const storiesText = (): string => readFileSync(requireAsset(STORIES_TEXT), 'utf8');

export function loadStories(): Promise<LlamaModel> {
  return loadLlama2c(new Uint8Array(readFileSync(requireAsset(STORIES_MODEL))), {
    tokenizer: new Uint8Array(readFileSync(requireAsset(STORIES_TOKENIZER))),
    name: 'stories260K',
  });
}

export interface ExportedStories {
  llama: LlamaModel;
  /** The model id to pass to from_pretrained (a folder under env.localModelPath). */
  modelId: string;
  dir: string;
  cleanup(): void;
}

/** Exports stories260K to a temp folder and points transformers.js there, offline. */
export async function exportStories(): Promise<ExportedStories> {
  const llama = await loadStories();
  const root = mkdtempSync(join(tmpdir(), 'skvq-transformers-'));
  const modelId = 'stories260K';
  const dir = join(root, modelId);
  writeTransformersModel(llama, dir);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root;
  return { llama, modelId, dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
