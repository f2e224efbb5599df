#!/usr/bin/env node
// Memory of a multi-turn greedy conversation of ~400 tokens with stories260K in
// transformers.js: at rest (what the past_key_values object holds between steps and turns)
// vs the dense tensors transformers.js's DynamicCache holds, and the tensors one session run
// adds on top (materialised past inputs + present outputs). ONNX Runtime's own scratch
// (attention scores, activations) is not counted: it is the same with or without SKVQ.
//   pnpm exec turbo run build --filter=@skvq/adapter-transformers...
//   node packages/adapter-transformers/scripts/measure-memory.mjs
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AutoModelForCausalLM,
  AutoTokenizer,
  DynamicCache,
  env,
  Tensor,
} from '@huggingface/transformers';
import { loadLlama2c, splitStories } from '@skvq/adapter-llama';
import { requireAsset, STORIES_MODEL, STORIES_TEXT, STORIES_TOKENIZER } from '@skvq/test-assets';
import { writeTransformersModel } from '../dist/export.js';
import { calibrateTransformersModel, createSkvqPastKeyValues } from '../dist/index.js';

const root = mkdtempSync(join(tmpdir(), 'skvq-mem-'));
const llama = await loadLlama2c(new Uint8Array(readFileSync(requireAsset(STORIES_MODEL))), {
  tokenizer: new Uint8Array(readFileSync(requireAsset(STORIES_TOKENIZER))),
  name: 'stories260K',
});
writeTransformersModel(llama, join(root, 'stories260K'));
env.allowRemoteModels = false;
env.localModelPath = root;
const model = await AutoModelForCausalLM.from_pretrained('stories260K', { dtype: 'fp32' });
const tokenizer = await AutoTokenizer.from_pretrained('stories260K');
const list = (t) => Array.from(t.data, Number);
const ids = (xs) => ({
  input_ids: new Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]),
  attention_mask: new Tensor('int64', new BigInt64Array(xs.length).fill(1n), [1, xs.length]),
});

const stories = splitStories(readFileSync(requireAsset(STORIES_TEXT), 'utf8')).slice(-30);
const calibration = await calibrateTransformersModel(
  model,
  stories.map((s) => list(tokenizer(s).input_ids)),
  {
    model: { name: 'stories260K', fingerprint: 'sha256:unset' },
    bits: { k: 2, v: 1.5 },
    groupSize: 8,
    maxTokens: 4096,
  },
);

// 4 turns: the golden prompt, then three user lines; 90 new tokens per turn (~400 in all)
const turns = [
  'Once upon a time, there was a little girl named Lily.',
  ' Then her mom said',
  ' The next day,',
  ' At the end,',
];
const dense = (c) => Object.values(c).reduce((n, t) => n + t.data.byteLength, 0);

async function converse(label, pkv) {
  let seq = [];
  const rows = [];
  let peak = 0;
  for (const [i, text] of turns.entries()) {
    const add = list(tokenizer(text, { add_special_tokens: i === 0 }).input_ids);
    const streamer = {
      // called once per generated token, between session runs: the cache is at rest here
      put() {
        if (pkv instanceof DynamicCache) {
          // the DynamicCache still holds the previous past; the run's presents are one token longer
          const past = dense(pkv);
          const tokens = pkv.get_seq_length();
          peak = Math.max(peak, past + (tokens > 0 ? (past / tokens) * (tokens + 1) : 0));
          return;
        }
        const run = pkv.lastRunBytes();
        peak = Math.max(peak, pkv.bytes().total + run.materialised + run.present);
      },
      end() {},
    };
    const cache = pkv instanceof DynamicCache ? pkv : pkv.asDynamicCache();
    seq = list(
      await model.generate({
        ...ids([...seq, ...add]),
        past_key_values: cache,
        max_new_tokens: 90,
        do_sample: false,
        streamer,
      }),
    );
    const atRest = pkv instanceof DynamicCache ? dense(pkv) : pkv.bytes().total;
    const tokens = pkv instanceof DynamicCache ? pkv.get_seq_length() : pkv.get_seq_length();
    rows.push({
      turn: i + 1,
      tokens,
      atRest,
      parts: pkv instanceof DynamicCache ? null : pkv.bytes(),
    });
  }
  return { label, rows, peak, seq };
}

const results = [
  await converse('DynamicCache (plain transformers.js, fp32)', new DynamicCache()),
  await converse(
    'SkvqPastKeyValues fp32 storage',
    createSkvqPastKeyValues(model.config, { storage: 'fp32' }),
  ),
  await converse(
    'SkvqPastKeyValues fp32 storage, 32-token pages',
    createSkvqPastKeyValues(model.config, { storage: 'fp32', pageTokens: 32 }),
  ),
  await converse(
    'SkvqPastKeyValues fp16 storage, 32-token pages',
    createSkvqPastKeyValues(model.config, { storage: 'fp16', pageTokens: 32 }),
  ),
  await converse(
    'SKVQ K2V1.5, window 128, sinks 5 (defaults)',
    createSkvqPastKeyValues(model.config, { storage: 'skvq', calibration }),
  ),
  await converse(
    'SKVQ K2V1.5, window 32, sinks 5, fp16 window, 32-token pages',
    createSkvqPastKeyValues(model.config, {
      storage: 'skvq',
      calibration,
      window: 32,
      fpPrecision: 'fp16',
      pageTokens: 32,
    }),
  ),
];
const denseAt = (tokens, bytes) => tokens * 5 * 2 * 32 * bytes;
for (const r of results) {
  console.log(`\n${r.label}`);
  for (const row of r.rows) {
    console.log(
      `  turn ${row.turn}: ${row.tokens} tokens at rest ${row.atRest} B (dense fp32 ${denseAt(row.tokens, 4)} B, fp16 ${denseAt(row.tokens, 2)} B, ratio vs fp32 ${(row.atRest / denseAt(row.tokens, 4)).toFixed(3)})`,
    );
  }
  const last = r.rows.at(-1).parts;
  if (last) {
    const { codes, metadata, positions, window, sinks, permutations, pageSlack, keptFp } = last;
    const { bitsPerElement } = last;
    console.log(
      `  breakdown at the end: ${JSON.stringify({ codes, metadata, positions, window, sinks, keptFp, permutations, pageSlack })}, ${bitsPerElement.toFixed(2)} bits/element; without page slack ${last.total - pageSlack} B`,
    );
  }
  if (r.peak > 0)
    console.log(
      `  peak accounted inside one run (cache at rest + materialised past + presents): ${r.peak} B`,
    );
  console.log(
    `  tokens equal to plain fp32: ${r.seq.filter((t, i) => t === results[0].seq[i]).length}/${results[0].seq.length}`,
  );
}
rmSync(root, { recursive: true, force: true });
