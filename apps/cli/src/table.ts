/** Renders rows as an aligned plain-text table (numbers right-aligned). */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => /^[-+]?[\d.]+%?$|^n\/a$|^NaN$/.test(r[i] ?? '')),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return (
    [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') +
    '\n'
  );
}

/** Fixed decimals; NaN/Infinity as n/a. */
export function fmt(value: number, decimals: number): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : 'n/a';
}

export function fmtSigned(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return `${value >= 0 ? '+' : ''}${value.toFixed(decimals)}`;
}

/** RFC 4180 CSV: fields with commas, quotes or newlines are quoted. */
export function renderCsv(
  headers: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cell = (v: string | number) => {
    const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${[headers, ...rows].map((r) => r.map(cell).join(',')).join('\n')}\n`;
}
