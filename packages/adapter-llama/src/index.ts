/** IEEE binary16 codec (the one in @skvq/formats), under this package's historical names. */
export { decodeFp16 as f16ToF32, encodeFp16 as f32ToF16 } from '@skvq/formats';
export { type ConvertOptions, type ConvertResult, convertToGguf } from './convert.js';
export { checkTokenizer, createLlamaModel, geometryOf } from './create-model.js';
export { FINGERPRINT_PREFIX, fingerprintBytes, fingerprintFile } from './fingerprint.js';
export { createForward, type ForwardFn } from './forward.js';
export { causalAttention } from './full-attention.js';
export {
  DEFAULT_PREFILL_CHUNK,
  type GeneratedToken,
  type GenerateOptions,
  type GenerateResult,
  generate,
  generateStream,
} from './generate.js';
export { GGUF_ARCHITECTURE, ggufConfig, ggufTokenizer, ggufWeights } from './gguf-model.js';
export { dequantizeTensor, parseGgufHeader } from './gguf-read.js';
export {
  GGML_BLOCK,
  GGML_TYPE,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  type GgmlTypeName,
  type GgufHeader,
  type GgufTensorInfo,
  type GgufValue,
  SUPPORTED_GGML_TYPES,
} from './gguf-types.js';
export {
  GGUF_WRITE_TYPES,
  type GgufTensorInput,
  type GgufWriteType,
  quantizeQ8_0,
  writeGguf,
} from './gguf-write.js';
export { LLAMA2C_MAGIC, type Llama2cCheckpoint, parseLlama2c, sniffLlama2c } from './llama2c.js';
export {
  type LoadOptions,
  loadGguf,
  loadLlama2c,
  sniffGguf,
  type TokenizerSource,
} from './load.js';
export { matmul, matmulReference, rmsnorm, swiglu } from './matmul.js';
export type { ForwardOptions, LlamaFormat, LlamaModel } from './model.js';
export {
  DEFAULT_PERPLEXITY_CHUNK,
  PERPLEXITY_PROTOCOLS,
  type PerplexityOptions,
  type PerplexityProtocol,
  type PerplexityResult,
  perplexity,
  promptLength,
} from './perplexity.js';
export { createGgufAdapter, createLlama2cAdapter, ggufAdapter, llama2cAdapter } from './plugins.js';
export { argmax, logProb, sampleToken } from './sampling.js';
export { STORY_OPENINGS, splitStories } from './stories.js';
export { type TeacherForcedOptions, teacherForcedLogits } from './teacher-forced.js';
export {
  createTokenizer,
  parseLlama2cTokenizer,
  pieceFromGguf,
  pieceToGguf,
  SPACE_MARKER,
  TOKEN_TYPE,
  type Tokenizer,
  type VocabularyParts,
} from './tokenizer.js';
export {
  DEFAULT_ROPE_THETA,
  kvDimOf,
  type LayerWeights,
  LLAMA2C_NORM_EPS,
  type LlamaConfig,
  type LlamaWeights,
} from './weights.js';
