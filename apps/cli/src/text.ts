import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { splitStories } from '@skvq/adapter-llama';
import { SkvqError } from '@skvq/core';
import { candidateModelDirs } from './model-lookup.js';

export const DEFAULT_TEXT_FILE = 'tinystories-valid-head.txt';
/** The evaluation protocol: calibrate on the last 300 stories, evaluate on the first ones. */
export const CALIBRATION_STORIES = 300;
export const DEFAULT_EVAL_STORIES = 200;

/** --text, else data/tinystories-valid-head.txt beside the models folder that was found. */
export function resolveText(
  text: string | undefined,
  env: Record<string, string | undefined>,
  cwd: string,
): string {
  if (text) {
    const path = resolve(cwd, text);
    if (!existsSync(path)) throw new SkvqError('IO_ERROR', `text file ${path} does not exist`);
    return path;
  }
  for (const { dir } of candidateModelDirs(env, cwd)) {
    const path = join(dir, '..', 'data', DEFAULT_TEXT_FILE);
    if (existsSync(path)) return path;
  }
  throw new SkvqError(
    'IO_ERROR',
    `no --text given and data/${DEFAULT_TEXT_FILE} was not found beside the model folders; pass --text FILE`,
  );
}

export function readStories(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SkvqError('IO_ERROR', `cannot read ${path}: ${(error as Error).message}`);
  }
  const stories = splitStories(text);
  if (stories.length === 0) throw new SkvqError('INVALID_ARGUMENT', `${path} holds no stories`);
  return stories;
}

/**
 * Disjoint calibration and evaluation stories: evaluation takes the first `evalCount`,
 * calibration the last `calibCount` of the rest (never overlapping the evaluation ones).
 */
export function splitForEval(
  stories: readonly string[],
  evalCount: number,
  calibCount = CALIBRATION_STORIES,
): { evaluation: string[]; calibration: string[] } {
  const evaluation = stories.slice(0, Math.min(evalCount, stories.length));
  const rest = stories.slice(evaluation.length);
  const calibration = rest.slice(Math.max(0, rest.length - calibCount));
  return { evaluation, calibration };
}
