/** WAT text -> base64 of the binary module (SIMD enabled, no names: deterministic bytes). */
export function assembleWat(wat: string): Promise<string>;
