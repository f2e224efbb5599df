import { buildLlamaOnnx } from './llama-graph.js';
import { tokenizerConfigJson, tokenizerJson } from './tokenizer-json.js';
import type { ExportableLlama } from './types.js';

/** Relative path -> contents of a transformers.js model folder. */
export type ModelFiles = Record<string, Uint8Array | string>;

/** Paths the exporter writes (transformers.js loads `onnx/model.onnx` for dtype fp32). */
export const MODEL_FILES = {
  config: 'config.json',
  generationConfig: 'generation_config.json',
  onnx: 'onnx/model.onnx',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
} as const;

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** config.json of a Hugging Face Llama (what transformers.js reads: type, heads, layers). */
export function llamaConfigJson(model: ExportableLlama): Record<string, unknown> {
  const c = model.config;
  const tied = model.weights.classifier === model.weights.tokenEmbedding;
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    hidden_act: 'silu',
    tie_word_embeddings: tied,
    bos_token_id: model.tokenizer?.bosId ?? 1,
    eos_token_id: model.tokenizer?.eosId ?? 2,
    torch_dtype: 'float32',
    'transformers.js_config': { dtype: 'fp32' },
  };
}

/** Every file of the folder, in memory (no file system: usable in a browser too). */
export function llamaTransformersFiles(model: ExportableLlama): ModelFiles {
  const files: ModelFiles = {
    [MODEL_FILES.config]: json(llamaConfigJson(model)),
    [MODEL_FILES.generationConfig]: json({
      bos_token_id: model.tokenizer?.bosId ?? 1,
      eos_token_id: model.tokenizer?.eosId ?? 2,
      max_length: model.config.contextLength,
    }),
    [MODEL_FILES.onnx]: buildLlamaOnnx(model),
  };
  if (model.tokenizer) {
    files[MODEL_FILES.tokenizer] = json(tokenizerJson(model.tokenizer));
    files[MODEL_FILES.tokenizerConfig] = json(
      tokenizerConfigJson(model.tokenizer, model.config.contextLength),
    );
  }
  return files;
}
