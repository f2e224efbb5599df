// Programmatic API of the `skvq` CLI (tests and scripts call main() with captured output).
export { BITS_FORMS, parseKvBits } from './args.js';
export { type CacheConfig, cacheFactory } from './caches.js';
export {
  attentionErrorSummary,
  type CapturedActivations,
  calibrateCaptured,
  captureActivations,
  withoutReorder,
} from './calibration-run.js';
export { type EvalRequest, runEvaluation } from './commands/eval.js';
export {
  DEFAULT_ASSET_BASE_URL,
  type DownloadOptions,
  downloadAsset,
  type RemoteAsset,
  STORIES260K_ASSETS,
} from './download.js';
export { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, formatError, UsageError } from './errors.js';
export {
  type AttentionSample,
  attentionErrorPerLayer,
  evaluateMethod,
  type MethodResult,
} from './evaluate.js';
export { bufferIo, type CliIo, processIo } from './io.js';
export { COMMANDS, MAIN_HELP, type MainOptions, main, VERSION } from './main.js';
export { METHOD_FORMS, type MethodSpec, parseMethod, parseMethods } from './methods.js';
export { candidateModelDirs, loadModel, resolveModel, userCacheDir } from './model-lookup.js';
export { paretoFrontier, scatterSvg, stackedBarsSvg, ticks } from './plots.js';
export { createCliRegistry } from './registry.js';
export { configLabel, resultsTable, writeResults } from './results-files.js';
export { renderCsv, renderTable } from './table.js';
export { splitForEval } from './text.js';
