/**
 * Renders rows as an aligned plain-text table. Numeric columns are right-aligned;
 * `rightAligned` names further columns to right-align (e.g. numbers with thousands separators).
 */
export function formatTable(columns: string[], rows: (string | number)[][], rightAligned: string[] = []): string {
  const cells = [columns, ...rows.map((r) => r.map(String))];
  const width = columns.map((_, j) => Math.max(...cells.map((r) => r[j].length)));
  const numeric = columns.map((c, j) => rightAligned.includes(c) || (rows.length > 0 && rows.every((r) => String(r[j]).trim() !== '' && !Number.isNaN(Number(r[j])))));
  const line = (r: string[]): string => r.map((c, j) => (numeric[j] ? c.padStart(width[j]) : c.padEnd(width[j]))).join('  ').trimEnd();
  return [line(cells[0]), width.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
