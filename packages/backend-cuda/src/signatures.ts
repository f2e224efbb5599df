/**
 * Argument types of every `extern "C"` kernel in src/cuda/*.cu, in order. KernelArgs
 * records what a launch packs and CudaDevice.launch checks it against this table; the
 * build test checks this table against the PTX that nvcc emits, so a kernel signature and
 * its launch site cannot drift apart unnoticed (a mismatch would read garbage on the GPU).
 * ptr: any device pointer; i64: long long; i32: int; u32: unsigned int; f32: float.
 */
export type ArgType = 'ptr' | 'i64' | 'i32' | 'u32' | 'f32';

export const KERNEL_SIGNATURES: Readonly<Record<string, readonly ArgType[]>> = {
  // quantize.cu
  skvq_quantize_tokens: [
    'ptr',
    'i32',
    'i32',
    'ptr',
    'ptr',
    'i32',
    'i32',
    'i32',
    'f32',
    'ptr',
    'ptr',
    'i32',
    'i32',
    'ptr',
  ],
  skvq_quantize_block_codes: ['ptr', 'i32', 'i32', 'i32', 'i32', 'f32', 'ptr', 'ptr', 'ptr'],
  skvq_pack_rows: ['ptr', 'i32', 'i32', 'i32', 'ptr', 'i32'],
  skvq_half_to_float: ['ptr', 'i64', 'ptr'],
  // dequantize.cu
  skvq_dequantize: [
    'ptr',
    'ptr',
    'i32',
    'i32',
    'i32',
    'i32',
    'ptr',
    'ptr',
    'i32',
    'i32',
    'i32',
    'i32',
    'i32',
    'ptr',
    'ptr',
  ],
  // attention.cu
  skvq_attend_partial: [
    'ptr',
    'ptr',
    'ptr',
    'ptr',
    'ptr',
    'i32',
    'i32',
    'i32',
    'i32',
    'i32',
    'i32',
    'i32',
    'i32',
    'ptr',
    'f32',
    'i32',
    'i32',
    'ptr',
    'ptr',
    'ptr',
    'ptr',
    'ptr',
  ],
  skvq_attend_reduce: ['ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'ptr', 'ptr', 'ptr'],
  skvq_attention_sums: ['ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'i32', 'i32', 'ptr'],
  // bench.cu
  dense_fp16_decode_partial: [
    'ptr',
    'ptr',
    'ptr',
    'i32',
    'i32',
    'i32',
    'f32',
    'i32',
    'ptr',
    'ptr',
    'ptr',
  ],
  skvq_fill_bytes: ['ptr', 'i64', 'u32', 'i32'],
  skvq_fill_half: ['ptr', 'i64', 'u32', 'f32'],
  skvq_fill_fp8_meta: ['ptr', 'i64', 'u32'],
};

/** The PTX parameter type each argument type compiles to. */
export const PTX_PARAM_TYPE: Readonly<Record<ArgType, string>> = {
  ptr: 'u64',
  i64: 'u64',
  i32: 'u32',
  u32: 'u32',
  f32: 'f32',
};
