/**
 * A tiny aligned-table formatter for CLI output (no dependency: a dozen lines
 * do it). Columns are padded to their widest cell and joined by two spaces;
 * the last column is not padded, so lines carry no trailing blanks. Control
 * characters in cells are escaped so one row stays one line and a value can
 * never drive the terminal.
 */
export function formatTable(header: readonly string[] | null, rows: readonly (readonly string[])[]): string {
  const all = (header ? [header, ...rows] : rows).map((r) => r.map(cleanCell));
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .map((line) => `${line}\n`)
    .join('');
}

/** Escapes C0 controls and DEL as `\n`, `\t` or `\xHH`. */
export function cleanCell(cell: string): string {
  return cell.replace(/[\x00-\x1f\x7f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}
