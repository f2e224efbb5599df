#!/usr/bin/env node
// Exports stories260K (../shared/models, or $SKVQ_ASSETS) to a transformers.js model folder.
//   node packages/adapter-transformers/scripts/export-stories260k.mjs [OUT_DIR]
// OUT_DIR defaults to a folder under the OS temp dir; the folder is never committed.
// Needs the built packages: pnpm exec turbo run build --filter=@skvq/adapter-transformers...
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadLlama2c } from '@skvq/adapter-llama';
import { requireAsset, STORIES_MODEL, STORIES_TOKENIZER } from '@skvq/test-assets';
import { writeTransformersModel } from '../dist/export.js';

const out = resolve(process.argv[2] ?? join(tmpdir(), 'skvq-transformers', 'stories260K'));
const model = await loadLlama2c(new Uint8Array(readFileSync(requireAsset(STORIES_MODEL))), {
  tokenizer: new Uint8Array(readFileSync(requireAsset(STORIES_TOKENIZER))),
  name: 'stories260K',
});
for (const path of writeTransformersModel(model, out)) console.log(`wrote ${path}`);
console.log(
  `load with: env.localModelPath = ${JSON.stringify(resolve(out, '..'))}; from_pretrained(${JSON.stringify('stories260K')})`,
);
