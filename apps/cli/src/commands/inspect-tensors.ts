import { statSync } from 'node:fs';
import {
  EXPORT_FORMAT,
  NPY_METADATA_FILE,
  openActivations,
  readCalibrationExport,
  readSafetensorsHeader,
} from '@skvq/interchange';
import type { CommandContext } from '../context.js';
import { fmt, renderTable } from '../table.js';

/** True for what `inspectTensors` describes: .safetensors, .npy, or a folder. */
export function isTensorPath(path: string): boolean {
  return (
    /\.(safetensors|npy)$/i.test(path) ||
    statSync(path, { throwIfNoEntry: false })?.isDirectory() === true
  );
}

function isExport(path: string): boolean {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat?.isDirectory()) {
    return (
      statSync(`${path}/${NPY_METADATA_FILE}`, { throwIfNoEntry: false }) !== undefined &&
      readCalibrationExportSafe(path)
    );
  }
  if (!/\.safetensors$/i.test(path)) return false;
  return readSafetensorsHeader(path).metadata.format === EXPORT_FORMAT;
}

function readCalibrationExportSafe(path: string): boolean {
  try {
    readCalibrationExport(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `skvq inspect` for tensor files: a calibration export (permutations, groups, clip ratios
 * per layer) or an activation capture (geometry, tokens, keys, queries), told apart by the
 * export's metadata `format`.
 */
export function inspectTensors(ctx: CommandContext, path: string, json: boolean): number {
  const out = ctx.io.stdout;
  if (isExport(path)) {
    const ex = readCalibrationExport(path);
    const m = ex.metadata;
    const layers = Number(m.layers);
    const perLayer = (stream: 'k' | 'v') => {
      const offsets = ex.tensors.get(`${stream}.group_offsets`)!;
      const counts = ex.tensors.get(`${stream}.group_count`)!.data;
      const alpha = ex.tensors.get(`${stream}.alpha`)!.data;
      const bits = ex.tensors.get(`${stream}.bits`)!.data;
      const width = offsets.shape[1]!;
      return Array.from({ length: layers }, (_, l) => {
        let smallest = Number.POSITIVE_INFINITY;
        for (let g = 0; g < counts[l]!; g++) {
          const o = offsets.data;
          smallest = Math.min(smallest, o[l * width + g + 1]! - o[l * width + g]!);
        }
        return { groups: counts[l]!, smallest, alpha: alpha[l]!, bits: bits[l]! };
      });
    };
    const k = perLayer('k');
    const v = perLayer('v');
    if (json) {
      out(
        `${JSON.stringify({ type: 'calibration-export', file: path, format: ex.format, metadata: m, tensors: Object.fromEntries([...ex.tensors].map(([n, t]) => [n, t.shape])), layers: k.map((x, i) => ({ k: x, v: v[i] })) }, null, 1)}\n`,
      );
      return 0;
    }
    out(`${path}: SKVQ calibration export (${ex.format}) for ${m.model} (${m.fingerprint})\n`);
    out(
      `KV geometry: ${m.layers} layers, ${m.query_heads} query heads, ${m.kv_heads} KV heads, head dim ${m.head_dim}, RoPE ${m.rope_style} theta ${m.rope_theta}; keys ${m.keys}\n`,
    );
    out(
      `group size ${m.group_size} (${m.grouping}), meta ${m.meta}, seed ${m.seed}, ${m.tokens} tokens of ${m.source}\n`,
    );
    out(`tensors: ${[...ex.tensors].map(([n, t]) => `${n} [${t.shape.join(', ')}]`).join(', ')}\n`);
    out(
      renderTable(
        [
          'layer',
          'K bits',
          'K groups',
          'K smallest',
          'K alpha',
          'V bits',
          'V groups',
          'V smallest',
          'V alpha',
        ],
        k.map((x, i) => [
          String(i),
          String(x.bits),
          String(x.groups),
          String(x.smallest),
          fmt(x.alpha, 2),
          String(v[i]!.bits),
          String(v[i]!.groups),
          String(v[i]!.smallest),
          fmt(v[i]!.alpha, 2),
        ]),
      ),
    );
    return 0;
  }
  const plan = openActivations([path], {}, ctx.io.cwd);
  const g = plan.geometry;
  const files = [...new Set(plan.parts.flat().map((p) => p.source.label))];
  if (json) {
    out(
      `${JSON.stringify({ type: 'activations', file: path, files, geometry: g, tokens: plan.tokens, keys: plan.keys, queries: plan.hasQueries, model: plan.model, source: plan.source, ignored: plan.ignored }, null, 1)}\n`,
    );
    return 0;
  }
  out(
    `${path}: captured activations (${files.length} file${files.length === 1 ? '' : 's'}) of ${plan.model.name}\n`,
  );
  out(
    `${plan.tokens} tokens x ${g.layers} layers; ${g.kvHeads} KV heads x head dim ${g.headDim}, ${g.queryHeads} query heads, RoPE ${g.rope.style}${g.rope.style === 'none' ? '' : ` theta ${g.rope.theta}`}\n`,
  );
  out(
    `keys ${plan.keys}; queries ${plan.hasQueries ? 'captured' : 'absent'}; source ${plan.source}\n`,
  );
  if (plan.ignored.length > 0) out(`ignored: ${plan.ignored.join(', ')}\n`);
  return 0;
}
