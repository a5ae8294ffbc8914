import { describe, expect, it } from 'vitest';
import { locate, parseSource, pinned } from '../../src/manifest/source.js';

/** `line:column` of `path` (or of `key` in the map at `path`) in `text`. */
function at(text: string, path: PropertyKey[], key?: string): string {
  const { source, issues } = parseSource('f.yaml', text);
  expect(issues).toEqual([]);
  const pos = locate(source, path, key);
  return `${pos.line}:${pos.column}`;
}

function syntax(text: string): string[] {
  return parseSource('f.yaml', text).issues.map((i) => `${i.line}:${i.column} ${i.message}`);
}

describe('locate', () => {
  it('with positions recorded only so deep, pins the nodes above and stops at that depth below', () => {
    const text = 'services:\n  - id: alpha\n    check: { tcp: "h:1" }\n  - id: beta\n';
    const shallow = parseSource('f.yaml', text, 2).source;
    const full = parseSource('f.yaml', text).source;
    for (const path of [['services'], ['services', 0], ['services', 1]]) {
      expect(pinned(shallow, path)).toBe(true);
      expect(locate(shallow, path)).toEqual(locate(full, path));
    }
    expect(locate(shallow, ['services', 1])).toMatchObject({ line: 4, column: 5 });
    // Level 3 and below were not recorded: the lookup stops at services[0].
    expect(pinned(shallow, ['services', 0, 'check'])).toBe(false);
    expect(locate(shallow, ['services', 0, 'check', 'tcp'])).toMatchObject({ line: 2, column: 5, path: 'services[0].check.tcp' });
    expect(pinned(full, ['services', 0, 'check', 'tcp'])).toBe(true);
    expect(locate(full, ['services', 0, 'check', 'tcp'])).toMatchObject({ line: 3, column: 19 });
    expect(shallow.value).toEqual(full.value);
  });

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

  it('counts empty sequence entries, which the parser does not compose', () => {
    const text = 'list:\n  - a\n  -\n  - c\n  -\n';
    const { source } = parseSource('f.yaml', text);
    expect(source.value).toEqual({ list: ['a', null, 'c', null] });
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
    expect(at('x: {a, b: 1}\n', ['x', 'a'])).toBe('1:5');
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

  it('falls back to the collection when its entries cannot be told apart, never outside the file', () => {
    // A flow sequence holding a pair: two nodes for one entry.
    expect(at('a: [x, b: c]\n', ['a', 1, 'b'])).toBe('1:4');
    expect(at('a: [x, b: c]\n', ['a', 0])).toBe('1:4');
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
      expect(source.value ?? null).toBeNull();
      expect(locate(source, ['services', 0])).toMatchObject({ line: 1, column: 1 });
    }
  });

  it('reports a duplicate key at its second occurrence', () => {
    expect(syntax('a: 1\nb:\n  c: 1\n  c: 2\n')).toEqual(['4:3 duplicated mapping key']);
    expect(syntax('a: {b: 1, b: 2}\n')).toEqual(['1:11 duplicated mapping key']);
  });

  it('rejects a second document where it starts', () => {
    expect(syntax('a: 1\n---\nb: 2\n')).toEqual(['2:1 expected a single YAML document, but found more (--- starts another)']);
    expect(syntax('a: 1\n# end\n\n---\n')).toEqual(['4:1 expected a single YAML document, but found more (--- starts another)']);
  });

  it('reports a tab in indentation at the tab, in one line without a code snippet', () => {
    expect(syntax('a:\n  b: 1\n\tc: 2\n')).toEqual(['3:1 tab characters must not be used in indentation']);
    expect(syntax('a: [\n')).toEqual(['2:1 unexpected end of the stream within a flow collection']);
  });

  it('uses the YAML 1.2 core schema: no merge keys, no timestamps, no 1.1 booleans', () => {
    const { source } = parseSource('f.yaml', 'a: 2024-01-01\nb: yes\nc: 0x1F\nd: ~\nbase: &b {x: 1}\nm: {<<: *b}\ne: 1_000\n');
    expect(source.value).toEqual({ a: '2024-01-01', b: 'yes', c: 31, d: null, base: { x: 1 }, m: { '<<': { x: 1 } }, e: '1_000' });
  });
});
