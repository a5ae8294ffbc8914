import { describe, expect, it } from 'vitest';
import { plainValue } from '../../src/manifest/plain-value.js';
import { locate, parseSource } from '../../src/manifest/source.js';

/** `line:column` of `path` (or of `key` in the map at `path`) in `text`. */
function at(text: string, path: PropertyKey[], key?: string): string {
  const { source, issues } = parseSource('f.yaml', text);
  expect(issues).toEqual([]);
  const pos = locate(source, path, key);
  return `${pos.line}:${pos.column}`;
}

/** The document as plain data (no environment). */
function valueOf(text: string): unknown {
  const { source } = parseSource('f.yaml', text);
  return plainValue(source.root, {}, (p) => locate(source, p)).value;
}

function syntax(text: string): string[] {
  return parseSource('f.yaml', text).issues.map((i) => `${i.line}:${i.column} ${i.message}`);
}

describe('locate', () => {
  it('finds nodes and keys in block maps, and the nearest parent of a missing path', () => {
    const text = 'upstream:\n  url: http://x\nagent:\n  heartbeat: session\n';
    expect(at(text, [])).toBe('1:1');
    expect(at(text, ['upstream', 'url'])).toBe('2:8');
    expect(at(text, ['agent'])).toBe('4:3');
    expect(at(text, ['agent', 'heartbeat'])).toBe('4:14');
    expect(at(text, ['agent'], 'heartbeat')).toBe('4:3');
    expect(at(text, ['agent', 'listen'])).toBe('4:3');
    expect(at(text, ['agent', 'heartbeat', 'deeper', 3])).toBe('4:14');
    expect(at(text, [], 'agent')).toBe('3:1');
  });

  it('finds keys and values inside flow maps', () => {
    const text = 'svc:\n  check: { a: 1, b: x }\n';
    expect(at(text, ['svc', 'check'])).toBe('2:10');
    expect(at(text, ['svc', 'check', 'a'])).toBe('2:15');
    expect(at(text, ['svc', 'check', 'b'])).toBe('2:21');
    expect(at(text, ['svc', 'check'], 'b')).toBe('2:18');
    expect(at('x: {a: 1, b: {c: [1, 2, {d: e}]}}\n', ['x', 'b', 'c', 2, 'd'])).toBe('1:29');
  });

  it('counts empty sequence entries, placing each just after its -', () => {
    const text = 'list:\n  - a\n  -\n  - c\n  -\n';
    expect(valueOf(text)).toEqual({ list: ['a', null, 'c', null] });
    expect(at(text, ['list', 0])).toBe('2:5');
    expect(at(text, ['list', 1])).toBe('3:4');
    expect(at(text, ['list', 2])).toBe('4:5');
    expect(at(text, ['list', 3])).toBe('5:4');
    expect(at('- - a\n  - b\n-\n- [d, e]\n', [2, 1])).toBe('4:7');
  });

  it('places an empty value just after its key, and still finds the sibling that follows', () => {
    expect(at('a:\nb: 1\n', ['a'])).toBe('1:3');
    expect(at('a:\nb: 1\n', ['b'])).toBe('2:4');
    expect(at('a:\nb: 1\n', [], 'b')).toBe('2:1');
    expect(at('x:\n  a:\n  b: 2\nc:', ['x', 'b'])).toBe('3:6');
    expect(at('x:\n  a:\n  b: 2\nc:', ['c'])).toBe('4:3');
    expect(at('x: {a, b: 1}\n', ['x', 'a'])).toBe('1:6');
  });

  it('skips comments and blank lines between nodes', () => {
    const text = [
      '# header',
      '',
      'a:   # trailing',
      '',
      '  # between',
      '',
      '  b: 1',
      'list:',
      '  # before',
      '  - x',
      '',
      '  - # empty, with a comment',
      '  - &anchor y',
      'c: !!str 3 # tagged',
      '',
    ].join('\n');
    expect(at(text, [])).toBe('3:1');
    expect(at(text, ['a'])).toBe('7:3');
    expect(at(text, ['a', 'b'])).toBe('7:6');
    expect(at(text, ['list'])).toBe('10:3');
    expect(at(text, ['list', 0])).toBe('10:5');
    expect(at(text, ['list', 1])).toBe('12:5');
    expect(at(text, ['list', 2])).toBe('13:13');
    expect(at(text, ['c'])).toBe('14:10');
  });

  it('finds a pair inside a flow sequence, and never points outside the file', () => {
    expect(at('a: [x, b: c]\n', ['a', 1, 'b'])).toBe('1:11');
    expect(at('a: [x, b: c]\n', ['a', 0])).toBe('1:5');
    for (const text of ['a:', 'a: [x, b: c]', '- ', '? a\n: b\n? c', 'x: &e\ny: *e']) {
      const { source } = parseSource('f.yaml', text);
      for (const path of [[], ['a'], ['a', 0, 'b'], [0], ['c'], ['y', 'z']]) {
        const pos = locate(source, path);
        expect(pos.line).toBeGreaterThanOrEqual(1);
        expect(pos.line).toBeLessThanOrEqual(text.split('\n').length);
        expect(pos.column).toBeGreaterThanOrEqual(1);
      }
    }
  });
});

describe('parseSource', () => {
  it('reads an empty or comment-only file as no document, located at 1:1', () => {
    for (const text of ['', '# nothing here\n']) {
      const { source, issues } = parseSource('f.yaml', text);
      expect(issues).toEqual([]);
      expect(valueOf(text)).toBeNull();
      expect(locate(source, ['services', 0])).toMatchObject({ line: 1, column: 1 });
    }
  });

  it('reports a duplicate key at its second occurrence', () => {
    expect(syntax('a: 1\nb:\n  c: 1\n  c: 2\n')).toEqual(['4:3 Map keys must be unique']);
    expect(syntax('a: {b: 1, b: 2}\n')).toEqual(['1:11 Map keys must be unique']);
  });

  it('rejects a second document where it starts', () => {
    expect(syntax('a: 1\n---\nb: 2\n')).toEqual(['2:1 expected a single YAML document, but found more (--- starts another)']);
    expect(syntax('a: 1\n# end\n\n---\n')).toEqual(['4:1 expected a single YAML document, but found more (--- starts another)']);
  });

  it('reports a tab in indentation at the tab, in one line without a code snippet', () => {
    expect(syntax('a:\n  b: 1\n\tc: 2\n')).toEqual(['3:1 Tabs are not allowed as indentation']);
    expect(syntax('a: [\n')).toEqual(['2:1 Flow sequence in block collection must be sufficiently indented and end with a ]']);
  });

  it('reports an unknown directive', () => {
    expect(syntax('%FOO bar\n---\na: 1\n')).toEqual(['1:1 Unknown directive %FOO']);
  });

  it('uses the YAML 1.2 core schema: no merge keys, no timestamps, no 1.1 booleans', () => {
    expect(valueOf('a: 2024-01-01\nb: yes\nc: 0x1F\nd: ~\nbase: &b {x: 1}\nm: {<<: *b}\ne: 1_000\n')).toEqual({ a: '2024-01-01', b: 'yes', c: 31, d: null, base: { x: 1 }, m: { '<<': { x: 1 } }, e: '1_000' });
  });
});
