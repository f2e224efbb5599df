import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  convertToGguf,
  type GgufWriteType,
  generate,
  type LlamaModel,
  loadGguf,
  logProb,
  splitStories,
} from '../src/index.js';
import { denseCache, golden, loadStories, storiesText } from './helpers.js';

/** The bar: llama.cpp's F32-cache mean NLL agrees with ours to 1e-3 nats/token. */
const LLAMA_CPP_NLL_TOLERANCE = 1e-3;
/** Stories compared token by token with llama.cpp (one thread: 30 keeps the file fast). */
const LLAMA_CPP_STORIES = 30;
/** Tokens per story fed to llama.cpp: the context is 512 and a full context would shift. */
const MAX_STORY_TOKENS = 512;

type NodeLlamaCpp = typeof import('node-llama-cpp');

async function importLlamaCpp(): Promise<{ module?: NodeLlamaCpp; reason?: string }> {
  try {
    const module = await import('node-llama-cpp');
    const llama = await module.getLlama({
      gpu: false,
      build: 'never',
      logLevel: module.LlamaLogLevel.error,
    });
    await llama.dispose();
    return { module };
  } catch (error) {
    return { reason: `node-llama-cpp cannot run here: ${(error as Error).message}` };
  }
}

const probe = await importLlamaCpp();
if (probe.reason) {
  // CI installs node-llama-cpp from the lockfile: there a failure to run it is an error
  if (process.env.SKVQ_REQUIRE_CI_FEATURES === '1') throw new Error(probe.reason);
  console.warn(`SKIPPED llama.cpp cross-check: ${probe.reason}`);
}

describe.skipIf(probe.reason !== undefined)(
  'llama.cpp (node-llama-cpp 3.21.1, CPU) on the converted GGUF',
  () => {
    let source: LlamaModel;
    let dir: string;
    let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;
    beforeAll(async () => {
      source = await loadStories();
      dir = mkdtempSync(join(tmpdir(), 'skvq-llamacpp-'));
      const m = probe.module as NodeLlamaCpp;
      llama = await m.getLlama({ gpu: false, build: 'never', logLevel: m.LlamaLogLevel.error });
    });
    afterAll(async () => {
      await llama?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    async function open(type: GgufWriteType) {
      const path = join(dir, `stories260K-${type}.gguf`);
      writeFileSync(path, convertToGguf(source, source.tokenizer!, { type }).bytes);
      const model = await llama.loadModel({ modelPath: path });
      const context = await model.createContext({
        contextSize: MAX_STORY_TOKENS,
        threads: 1,
        experimentalKvCacheKeyType: 'F32',
        experimentalKvCacheValueType: 'F32',
      });
      return { path, model, context };
    }

    for (const type of ['F32', 'F16', 'Q8_0'] as const) {
      it(`${type}: llama.cpp's greedy continuation from BOS equals ours token for token`, async () => {
        const { path, model, context } = await open(type);
        try {
          const ours = await loadGguf({ path });
          const steps = golden().greedy_from_bos.steps;
          const expected = await generate(ours, {
            ids: [1],
            maxTokens: steps,
            cache: denseCache(ours),
          });
          const sequence = context.getSequence();
          const theirs: number[] = [];
          for await (const token of sequence.evaluate([1 as never], { temperature: 0 })) {
            theirs.push(token as number);
            if (theirs.length >= steps) break;
          }
          expect(theirs).toEqual(Array.from(expected.generated));
          if (type === 'F32') expect(theirs).toEqual(golden().greedy_from_bos.ids.slice(1));
          // llama.cpp's tokenizer reads our vocabulary the same way
          expect(model.tokenize(golden().encode.text)).toEqual(golden().encode.ids.slice(1));
        } finally {
          await context.dispose();
          await model.dispose();
        }
      });
    }

    it(`F32: llama.cpp's F32-cache mean NLL over ${LLAMA_CPP_STORIES} stories agrees with ours to ${LLAMA_CPP_NLL_TOLERANCE}`, async () => {
      const { model, context } = await open('F32');
      try {
        const sequence = context.getSequence();
        const stories = splitStories(storiesText()).slice(0, LLAMA_CPP_STORIES);
        const vocab = source.config.vocabSize;
        let ours = 0;
        let theirs = 0;
        let count = 0;
        let worst = 0;
        for (const story of stories) {
          const ids = Array.from(source.tokenizer!.encode(story)).slice(0, MAX_STORY_TOKENS);
          const logits = await source.forward(ids.slice(0, -1), denseCache(source), {
            logits: 'all',
          });
          await sequence.clearHistory();
          const results = await sequence.controlledEvaluate(
            ids.slice(0, -1).map((id) => [id as never, { generateNext: { probabilities: true } }]),
          );
          for (let t = 0; t + 1 < ids.length; t++) {
            const a = -logProb(logits, t * vocab, vocab, ids[t + 1] as number);
            const p = results[t]?.next.probabilities?.get(ids[t + 1] as number as never);
            if (p === undefined) throw new Error(`llama.cpp gave no probability at token ${t}`);
            const b = -Math.log(p);
            worst = Math.max(worst, Math.abs(a - b));
            ours += a;
            theirs += b;
            count++;
          }
        }
        console.info(
          `llama.cpp F32 cache over ${stories.length} stories, ${count} tokens: mean NLL ours ${(ours / count).toFixed(6)}, llama.cpp ${(theirs / count).toFixed(6)}, |diff| ${Math.abs(ours - theirs) / count}, worst token ${worst.toExponential(2)}`,
        );
        expect(Math.abs(ours - theirs) / count).toBeLessThan(LLAMA_CPP_NLL_TOLERANCE);
      } finally {
        await context.dispose();
        await model.dispose();
      }
    });
  },
);
