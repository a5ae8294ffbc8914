import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/** The manifest's `workers` section: normalized, and validated like the rest (file:line:column issues). */

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('workers-manifest');
});
afterEach(async () => {
  await tmp.remove();
});

async function load(yaml: string) {
  const path = join(tmp.path, 'tether.yaml');
  await writeFile(path, yaml);
  return { path, ...(await loadManifest(path, {})) };
}

describe('manifest workers', () => {
  it('normalizes a worker with defaults and a named action', async () => {
    const { manifest, issues } = await load(`actions:
  ticket: { exec: [/usr/local/bin/open-ticket] }
workers:
  - name: tickets
    queue: timeouts
    action: ticket
  - name: lb
    queue: joins
    concurrency: 4
    ttl: 2m
    grace: 90
    attempts: 2
    dead_letter: joins-dead
    retry_delay: 500ms
    filter: { types: [service.join], service_tag: web, match: { region: eu } }
    action: { http: http://127.0.0.1:9000/lb }
`);
    expect(issues).toEqual([]);
    expect(manifest?.workers[0]).toMatchObject({
      name: 'tickets',
      queue: 'timeouts',
      concurrency: 1,
      ttlSec: 60,
      graceSec: 60,
      attempts: 5,
      deadLetter: null,
      retryDelayMs: 1000,
      action: { name: 'ticket', action: { kind: 'exec', argv: ['/usr/local/bin/open-ticket'] } },
    });
    expect(manifest?.workers[1]).toMatchObject({
      concurrency: 4,
      ttlSec: 120,
      graceSec: 90,
      attempts: 2,
      deadLetter: 'joins-dead',
      retryDelayMs: 500,
      filter: { types: ['service.join'], serviceTag: 'web', serviceIdPrefix: null, keyPrefix: null, match: { region: 'eu' } },
      action: { name: null, action: { kind: 'http', url: 'http://127.0.0.1:9000/lb', method: 'POST' } },
    });
  });

  it('reports every issue with its line and column: unknown keys, ranges, duplicates, unknown actions', async () => {
    const { manifest, issues, path } = await load(`workers:
  - name: a
    queue: q
    action: nope
    colour: blue
  - name: a
    queue: q
    ttl: 1.5s
    dead_letter: q
    action: { exec: [/bin/true] }
  - name: b
    queue: "bad name!"
    concurrency: 0
    action: { exec: [/bin/true] }
`);
    expect(manifest).toBeNull();
    const at = issues.map((i) => `${i.line}:${i.column} ${i.path} ${i.message}`);
    expect(issues.every((i) => i.file === path)).toBe(true);
    expect(at).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^5:5 workers\[0\]\.colour unknown key "colour"/),
        expect.stringMatching(/^12:12 workers\[2\]\.queue must be 1\.\.64 characters/),
        expect.stringMatching(/^13:18 workers\[2\]\.concurrency /),
      ]),
    );
  });

  it('an unknown action name is an issue at the worker\'s action', async () => {
    const { manifest, issues } = await load(`workers:
  - name: a
    queue: q
    action: nope
`);
    expect(manifest).toBeNull();
    expect(issues.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual(['4 workers[0].action: unknown action "nope" (define it under actions)']);
  });

  it('semantic rules: duplicate names, claim ranges, dead letter = own queue', async () => {
    const { manifest, issues } = await load(`workers:
  - name: a
    queue: q
    action: nope
  - name: a
    queue: q
    ttl: 1.5s
    grace: 13h
    dead_letter: q
    action: { exec: [/bin/true] }
`);
    expect(manifest).toBeNull();
    const at = issues.map((i) => `${i.line} ${i.path}: ${i.message}`);
    expect(at).toEqual(
      expect.arrayContaining([
        '5 workers[1].name: worker "a" is already defined',
        '7 workers[1].ttl: must be a whole number of seconds from 1 to 43200',
        '8 workers[1].grace: must be a whole number of seconds from 1 to 43200',
        "9 workers[1].dead_letter: must not be the worker's own queue",
      ]),
    );
  });
});
