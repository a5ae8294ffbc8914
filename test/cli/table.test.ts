import { describe, expect, it } from 'vitest';
import { cleanCell, formatTable } from '../../src/cli/table.js';

describe('formatTable', () => {
  it('pads every column but the last to its widest cell, with no trailing blanks', () => {
    const text = formatTable(['ID', 'VALUE'], [
      ['a', '1'],
      ['longer-id', ''],
    ]);
    expect(text).toBe('ID         VALUE\na          1\nlonger-id\n');
  });

  it('prints rows only without a header, and nothing for no rows', () => {
    expect(formatTable(null, [['k', 'v']])).toBe('k  v\n');
    expect(formatTable(null, [])).toBe('');
    expect(formatTable(['A', 'B'], [])).toBe('A  B\n');
  });

  it('escapes control characters so a row stays on one line', () => {
    expect(cleanCell('a\nb\tc\rd\x1b[31m')).toBe('a\\nb\\tc\\rd\\x1b[31m');
    expect(formatTable(null, [['k', 'line1\nline2']])).toBe('k  line1\\nline2\n');
  });
});
