import type { BitWidth } from '@skvq/core';
import { BITS_FORMS, parseBits } from './args.js';
import { UsageError } from './errors.js';

/** Quantization methods of the method grammar (SKVQ.md section 6). */
export const QUANT_METHODS = ['rtn', 'kivi', 'skvq'] as const;
export type QuantMethod = (typeof QUANT_METHODS)[number];

/** Ablation switches of SKVQ (apply to every stream quantized with skvq). */
export const METHOD_MODIFIERS = ['noreorder', 'noclip', 'postrope'] as const;
export type MethodModifier = (typeof METHOD_MODIFIERS)[number];

export type MethodSpec =
  | { kind: 'dense'; name: string; precision: 'fp32' | 'fp16' }
  | {
      kind: 'quantized';
      name: string;
      keys: { method: QuantMethod; bits: BitWidth };
      values: { method: QuantMethod; bits: BitWidth };
      /** skvq without channel reordering (identity order, contiguous groups, alpha searched). */
      noReorder: boolean;
      /** skvq with alpha = 1 (no clipping). */
      noClip: boolean;
      /** Keys rotated by RoPE before they are stored (the cache's keysPreRope: false). */
      postRope: boolean;
    };

export const METHOD_FORMS = [
  'fp32',
  'fp16',
  '<method>-k<bits>v<bits>        e.g. skvq-k2v1.5, kivi-k2v2, rtn-k4v4',
  '<keys>+<values>-k<bits>v<bits> e.g. kivi+skvq-k2v1.5 (KIVI keys, SKVQ values)',
  'optional ablation suffix :noreorder and/or :noclip on skvq, e.g. skvq-k2v2:noclip',
  'optional suffix :postrope: keys stored after RoPE (any quantized method), e.g. skvq-k2v1.5:postrope',
  `methods: ${QUANT_METHODS.join(', ')}; bits: ${BITS_FORMS}`,
];

function invalid(raw: string, why: string, command: string): never {
  throw new UsageError(
    `method "${raw}" is not valid (${why}); valid forms:\n  ${METHOD_FORMS.join('\n  ')}`,
    command,
  );
}

function quantMethod(raw: string, name: string, command: string): QuantMethod {
  if (!(QUANT_METHODS as readonly string[]).includes(name)) {
    invalid(raw, `unknown method "${name}"`, command);
  }
  return name as QuantMethod;
}

/** Parses one method name of the grammar above. */
export function parseMethod(raw: string, command = 'eval'): MethodSpec {
  const text = raw.trim().toLowerCase();
  if (text === 'fp32' || text === 'fp16') return { kind: 'dense', name: text, precision: text };
  const [base, ...mods] = text.split(':');
  for (const m of mods) {
    if (!(METHOD_MODIFIERS as readonly string[]).includes(m)) {
      invalid(
        raw,
        `unknown suffix ":${m}"; expected ${METHOD_MODIFIERS.map((x) => `:${x}`).join(', ')}`,
        command,
      );
    }
  }
  const match = /^([a-z]+)(?:\+([a-z]+))?-k([\d.]+)v([\d.]+)$/.exec(base ?? '');
  if (!match) invalid(raw, 'not fp32, fp16 or <method>-k<bits>v<bits>', command);
  const keyMethod = quantMethod(raw, match[1]!, command);
  const valueMethod = match[2] === undefined ? keyMethod : quantMethod(raw, match[2], command);
  let kBits: BitWidth;
  let vBits: BitWidth;
  try {
    kBits = parseBits(match[3]!, 'key bits', command);
    vBits = parseBits(match[4]!, 'value bits', command);
  } catch (error) {
    invalid(raw, (error as Error).message, command);
  }
  const ablations = mods.filter((m) => m !== 'postrope');
  if (ablations.length > 0 && keyMethod !== 'skvq' && valueMethod !== 'skvq') {
    invalid(raw, 'the :noreorder and :noclip suffixes only apply to skvq', command);
  }
  return {
    kind: 'quantized',
    name: text,
    keys: { method: keyMethod, bits: kBits },
    values: { method: valueMethod, bits: vBits },
    noReorder: mods.includes('noreorder'),
    noClip: mods.includes('noclip'),
    postRope: mods.includes('postrope'),
  };
}

/** Parses a comma-separated --methods list; empty entries and duplicates are usage errors. */
export function parseMethods(raw: string, command = 'eval'): MethodSpec[] {
  const items = raw.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s.length === 0)) {
    throw new UsageError(
      `--methods "${raw}" has an empty entry; give a comma-separated list such as fp32,kivi-k2v2,skvq-k2v1.5`,
      command,
    );
  }
  const specs = items.map((s) => parseMethod(s, command));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new UsageError(`--methods lists "${s.name}" twice`, command);
    seen.add(s.name);
  }
  return specs;
}

/** True when the method quantizes a stream with SKVQ (it needs a calibration). */
export function needsCalibration(spec: MethodSpec): boolean {
  return (
    spec.kind === 'quantized' && (spec.keys.method === 'skvq' || spec.values.method === 'skvq')
  );
}
