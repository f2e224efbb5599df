import type { CacheObjective } from '@skvq/calibrator-reorder';
import {
  choiceOption,
  intOption,
  type ParsedValues,
  parseAlphaGrid,
  stringOption,
} from './args.js';
import { type CalibrationSettings, calibrationDefaults } from './calibration-run.js';
import { UsageError } from './errors.js';

/**
 * The clip-search flags of `skvq calibrate`, shared by its model path and its
 * `--activations` path, so that the same flags give the same artifact from either source.
 */
export const CLIP_SEARCH_OPTIONS = {
  'alpha-grid': { type: 'string' },
  objective: { type: 'string' },
  window: { type: 'string' },
  sinks: { type: 'string' },
  'sample-tokens': { type: 'string' },
} as const;

/** The cache the clip objective models by default: `skvq eval`'s window and sinks. */
export const DEFAULT_OBJECTIVE_WINDOW = 32;
export const DEFAULT_OBJECTIVE_SINKS = 5;

export const CLIP_SEARCH_HELP = `      --objective O     the cache the clip search measures attention error through:
                        decode (default: each query reads its own last --window tokens and
                        the sinks at full precision, older tokens quantized), prefill (only
                        a story's last --window tokens and the sinks full precision) or all
                        (every token quantized: the SKVQ paper's objective)
      --window N        full-precision window the objective models (default ${DEFAULT_OBJECTIVE_WINDOW})
      --sinks N         attention sinks the objective models (default ${DEFAULT_OBJECTIVE_SINKS})
      --alpha-grid LIST clip ratios to search, e.g. 0.8,0.9,1 (default 0.50..1.00 step 0.02
                        with decode/prefill, 0.80..1.00 with all)
      --sample-tokens N tokens per layer the clip search uses (default 1024 with
                        decode/prefill, 256 with all)`;

type ClipSearchSettings = Pick<CalibrationSettings, 'objective' | 'alphaGrid' | 'sampleTokens'>;

/** Objective, grid and sample size from the flags, with the defaults that go with the objective. */
export function clipSearchSettings(
  values: ParsedValues,
  cmd: string,
): { objective: CacheObjective | undefined; settings: ClipSearchSettings } {
  const name = choiceOption(
    values,
    'objective',
    ['decode', 'prefill', 'all'] as const,
    'decode',
    cmd,
  );
  const objective =
    name === 'all'
      ? undefined
      : {
          protocol: name,
          window: intOption(values, 'window', DEFAULT_OBJECTIVE_WINDOW, cmd, 0),
          sinks: intOption(values, 'sinks', DEFAULT_OBJECTIVE_SINKS, cmd, 0),
        };
  if (!objective && (values.window !== undefined || values.sinks !== undefined))
    throw new UsageError('--window and --sinks only apply to --objective decode or prefill', cmd);
  const alphaRaw = stringOption(values, 'alpha-grid');
  const sampleRaw = stringOption(values, 'sample-tokens');
  return {
    objective,
    settings: {
      ...calibrationDefaults(objective),
      ...(alphaRaw ? { alphaGrid: parseAlphaGrid(alphaRaw, cmd) } : {}),
      ...(sampleRaw ? { sampleTokens: intOption(values, 'sample-tokens', 1, cmd, 1) } : {}),
    },
  };
}
