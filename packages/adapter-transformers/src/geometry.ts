import { type KvGeometry, SkvqError, validateGeometry } from '@skvq/core';

/** The fields of a transformers.js (Hugging Face) decoder config this adapter reads. */
export interface TransformersDecoderConfig {
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  hidden_size?: number;
  rope_theta?: number;
}

/**
 * The KV geometry of a transformers.js decoder, for an SKVQ cache that STORES the model's
 * `present.*` tensors: keys arrive post-RoPE (the ONNX graph rotated them), and attention
 * runs inside the ONNX session, never in the cache. So the cache geometry says rope 'none':
 * the cache must never rotate what it is given (and `keysPreRope: false` records that the
 * stored keys are the post-RoPE ones). Calibration artifacts made by
 * `calibrateTransformersModel` carry the same geometry, so they fit these caches.
 */
export function transformersGeometry(
  decoderConfig: TransformersDecoderConfig | object,
): KvGeometry {
  // a transformers.js PretrainedConfig is a plain object with these fields (not in its type)
  const config = decoderConfig as TransformersDecoderConfig;
  const heads = config.num_attention_heads;
  const headDim =
    config.head_dim ??
    (config.hidden_size !== undefined && heads > 0 ? config.hidden_size / heads : Number.NaN);
  if (!Number.isInteger(headDim)) {
    throw new SkvqError(
      'INVALID_GEOMETRY',
      `transformers config: head_dim is missing and hidden_size (${config.hidden_size}) / num_attention_heads (${heads}) is not an integer`,
      { details: { hidden_size: config.hidden_size, num_attention_heads: heads } },
    );
  }
  return validateGeometry(
    {
      layers: config.num_hidden_layers,
      queryHeads: heads,
      kvHeads: config.num_key_value_heads ?? heads,
      headDim,
      rope: { style: 'none', theta: config.rope_theta ?? 10000 },
    },
    'transformers config',
  );
}
