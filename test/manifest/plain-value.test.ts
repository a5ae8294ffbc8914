import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/manifest/issues.js';
import { plainValue } from '../../src/manifest/plain-value.js';
import { locate, parseSource } from '../../src/manifest/source.js';

function plain(text: string, env: NodeJS.ProcessEnv = {}): { value: unknown; issues: string[] } {
  const { source, issues } = parseSource('f.yaml', text);
  expect(issues).toEqual([]);
  const r = plainValue(source.root, env, (p) => locate(source, p));
  return { value: r.value, issues: r.issues.map(formatIssue) };
}

describe('plainValue', () => {
  it('gives an alias the value of the last anchor of that name before it, as a copy', () => {
    const { value, issues } = plain('a: &x {n: 1}\nb: *x\nc: &x [2]\nd: *x\n');
    expect(issues).toEqual([]);
    expect(value).toEqual({ a: { n: 1 }, b: { n: 1 }, c: [2], d: [2] });
    const v = value as { a: object; b: object };
    expect(v.b).not.toBe(v.a);
    // Copying *x passes &y inside it again; *y still names the &y met last in the document.
    expect(plain('a: &x {b: &y 1}\nc: &y 2\nd: *x\ne: *y\n').value).toEqual({ a: { b: 1 }, c: 2, d: { b: 1 }, e: 2 });
  });

  it('expands ${VAR} inside aliased values too, and keeps $${VAR} literal', () => {
    const { value, issues } = plain('a: &x "${HOST}:${PORT:-80}"\nb: *x\nc: "$${HOST}"\n', { HOST: 'h' });
    expect(issues).toEqual([]);
    expect(value).toEqual({ a: 'h:80', b: 'h:80', c: '${HOST}' });
  });

  it('reports an alias without an anchor before it at the alias', () => {
    expect(plain('a: *later\nb: &later 1\n').issues).toEqual(['f.yaml:1:4: a: unresolved alias *later: no &later anchor before it']);
  });

  it('reports a key that is not a scalar at its map', () => {
    expect(plain('x:\n  ? [a, b]\n  : 1\n').issues).toEqual(['f.yaml:2:3: x: a key must be a scalar (a string, number, boolean or null)']);
  });

  it('keeps __proto__ an own key of plain data', () => {
    const value = plain('__proto__: { polluted: true }\n').value as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
