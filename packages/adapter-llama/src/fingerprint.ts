/**
 * Model fingerprint for calibration artifacts: "sha256:" + hex SHA-256 of the weight file's
 * bytes. Web Crypto (globalThis.crypto.subtle) exists in Node >= 20 and browsers alike, so
 * the same bytes give the same fingerprint everywhere.
 */
export const FINGERPRINT_PREFIX = 'sha256:';

function hex(buffer: ArrayBuffer): string {
  const bytes = new Uint8Array(buffer);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += (bytes[i] as number).toString(16).padStart(2, '0');
  return out;
}

export async function fingerprintBytes(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return FINGERPRINT_PREFIX + hex(digest);
}

/** Streams a file through node:crypto (large GGUF files are never held whole). */
export async function fingerprintFile(path: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const { createReadStream } = await import('node:fs');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return FINGERPRINT_PREFIX + hash.digest('hex');
}
