/**
 * The generated report replaces everything above the first hand-written section (a heading
 * marked "(written by hand" or "(run separately)"); those sections are kept after it, so a
 * rerun does not erase analysis and separately measured backends.
 */
export function withHandWrittenSections(report: string, previous: string): string {
  const lines = previous.split('\n');
  const first = lines.findIndex(
    (l) => l.startsWith('## ') && /\((written by hand|.*run separately)/.test(l),
  );
  if (first < 0) return report;
  return `${report.trimEnd()}\n\n${lines.slice(first).join('\n')}`;
}
