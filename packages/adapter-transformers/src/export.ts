// `@skvq/adapter-transformers/export`: a Llama model (e.g. a llama2.c checkpoint loaded by
// `@skvq/adapter-llama`) as a folder transformers.js loads offline.
export {
  llamaConfigJson,
  llamaTransformersFiles,
  MODEL_FILES,
  type ModelFiles,
} from './export/files.js';
export { buildLlamaOnnx, pairwiseToHalfRows, pastName, presentName } from './export/llama-graph.js';
export { ONNX_IR_VERSION, ONNX_OPSET } from './export/onnx-graph.js';
export {
  mergesFromScores,
  SPECIAL_TOKENS,
  tokenizerConfigJson,
  tokenizerJson,
  vocabularyStrings,
} from './export/tokenizer-json.js';
export type { ExportableLlama, ExportableTokenizer } from './export/types.js';
export { writeTransformersModel } from './export/write.js';
