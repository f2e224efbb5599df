import { type BitWidth, SkvqError, SUPPORTED_BITS } from '@skvq/core';

/** Cache methods of the page (SKVQ.md section 6: the baselines run in the same harness). */
export const DEMO_METHODS = ['fp32', 'rtn', 'kivi', 'skvq'] as const;
export type DemoMethod = (typeof DEMO_METHODS)[number];

/** What the form asks for. */
export interface DemoSettings {
  method: DemoMethod;
  keyBits: BitWidth;
  valueBits: BitWidth;
  /** Full-precision recent tokens (SKVQ.md section 3; 128 in the paper, small here: 512-token model). */
  window: number;
  /** Attention sinks kept full precision (paper default 5). */
  sinks: number;
  /** Channels per quantization group (stories260K has kvHidden 32). */
  groupSize: number;
  maxTokens: number;
  prompt: string;
}

/** KIVI supports only 2 and 4 bits (arXiv 2402.02750). */
const KIVI_BITS: readonly BitWidth[] = [2, 4];

function parseBitsField(raw: string, field: string, allowed: readonly BitWidth[]): BitWidth {
  const bits = Number(raw) as BitWidth;
  if (!allowed.includes(bits)) {
    throw new SkvqError(
      'UNSUPPORTED_BITS',
      `${field} ${raw} is not supported; expected ${allowed.join(', ')}`,
    );
  }
  return bits;
}

function parseCount(raw: string, field: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${field} is ${raw}; expected an integer ${min}..${max}`,
    );
  }
  return n;
}

/** Validates the raw form fields (strings) into settings; a bad field is a SkvqError naming it. */
export function parseSettings(fields: Record<string, string>): DemoSettings {
  const method = fields.method as DemoMethod;
  if (!DEMO_METHODS.includes(method)) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `cache method ${fields.method} is unknown; expected ${DEMO_METHODS.join(', ')}`,
    );
  }
  const allowed = method === 'kivi' ? KIVI_BITS : SUPPORTED_BITS;
  return {
    method,
    keyBits: parseBitsField(fields.keyBits ?? '', `${method} key bits`, allowed),
    valueBits: parseBitsField(fields.valueBits ?? '', `${method} value bits`, allowed),
    window: parseCount(fields.window ?? '', 'window', 0, 4096),
    sinks: parseCount(fields.sinks ?? '', 'sinks', 0, 4096),
    groupSize: parseCount(fields.groupSize ?? '', 'group size', 1, 4096),
    maxTokens: parseCount(fields.maxTokens ?? '', 'tokens to generate', 1, 4096),
    prompt: fields.prompt ?? '',
  };
}
