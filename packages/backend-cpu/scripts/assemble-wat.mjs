import wabtFactory from 'wabt';

/** WAT text -> base64 of the binary module (SIMD enabled, no names: deterministic bytes). */
export async function assembleWat(wat) {
  const wabt = await wabtFactory();
  const module = wabt.parseWat('fused-attention.wat', wat, { simd: true });
  try {
    module.validate();
    const { buffer } = module.toBinary({ write_debug_names: false });
    return Buffer.from(buffer).toString('base64');
  } finally {
    module.destroy();
  }
}
