import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/manifest/issues.js';
import { loadManifest } from '../../src/manifest/load.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

let tmp: TempDir;
beforeEach(async () => {
  tmp = await createTempDir('manifest-positions');
});
afterEach(async () => {
  await tmp.remove();
});


/** The bench's manifest: service i's `- id:` line is 4 + 5i. */
function manyServices(count: number, edit: (i: number, lines: string[]) => void = () => {}): string {
  const lines = ['upstream: {url: http://127.0.0.1:9/v1.0/1234}', 'agent: {listen: 127.0.0.1:0, heartbeat: session}', 'services:'];
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(3, '0');
    const entry = [
      `  - id: svc-${n}`,
      '    tags: [bench]',
      `    metadata: { zone: bench-a, port: "1${String(i).padStart(4, '0')}" }`,
      '    heartbeat_timeout: 30',
      `    check: { http: "http://127.0.0.1:9/health/svc-${n}", interval: 10s, timeout: 2s }`,
    ];
    edit(i, entry);
    lines.push(...entry);
  }
  return `${lines.join('\n')}\n`;
}

describe('manifest positions', () => {
  it('gives each of 500 services its own line as origin', async () => {
    const path = await tmp.write('many.yaml', manyServices(500));
    const { manifest, issues } = await loadManifest(path, {});
    expect(issues).toEqual([]);
    expect(manifest?.services).toHaveLength(500);
    for (const i of [0, 1, 2, 137, 250, 498, 499]) expect(manifest?.services[i]?.origin).toBe(`${path}:${4 + 5 * i}`);
    expect(manifest?.services.every((s, i) => s.origin === `${path}:${4 + 5 * i}`)).toBe(true);
  });

  it('gives services written as a flow sequence their own lines as origins too', async () => {
    const path = await tmp.write(
      'flow-list.yaml',
      'services: [\n  { id: first-one },\n\n  {\n    id: second-one, tags: [a] },\n  { id: third-one, check: { tcp: "h:1" } }\n  ]\n',
    );
    const { manifest, issues } = await loadManifest(path, {});
    expect(issues).toEqual([]);
    expect(manifest?.services.map((s) => s.origin)).toEqual([`${path}:2`, `${path}:4`, `${path}:6`]);
  });

  it('gives files and hooks their origins, in block or flow lists', async () => {
    const path = await tmp.write(
      'outputs.yaml',
      'services:\n  [ { id: first-one },\n    { id: second-one } ]\nfiles:\n  - { path: out.json, from: { key: /app/bee } }\n  -\n    path: two.json\n    from: { key: /app/cee }\nhooks: [{ on: [service.join], action: { exec: [/bin/true] } }]\n',
    );
    const { manifest, issues } = await loadManifest(path, {});
    expect(issues).toEqual([]);
    expect(manifest?.services.map((s) => s.origin)).toEqual([`${path}:2`, `${path}:3`]);
    expect(manifest?.files.map((f) => f.origin)).toEqual([`${path}:5`, `${path}:7`]);
    expect(manifest?.hooks.map((h) => h.origin)).toEqual([`${path}:9`]);
  });

  it('points at issues deep in a large file, inside flow maps and flow sequences', async () => {
    const path = await tmp.write(
      'bad.yaml',
      manyServices(500, (i, entry) => {
        if (i === 321) entry[4] = '    check: { http: "http://127.0.0.1:9/", interval: soon, retries: 3 }';
        if (i === 400) entry[1] = '    tags: [bench, {x: 1}]';
      }),
    );
    const lines = (await loadManifest(path, {})).issues.map(formatIssue).sort();
    expect(lines).toEqual([
      `${path}:${4 + 5 * 321 + 4}:53: services[321].check.interval: must be a duration like 500ms, 10s, 2m or a number of seconds`,
      `${path}:${4 + 5 * 321 + 4}:59: services[321].check.retries: unknown key "retries"`,
      `${path}:${4 + 5 * 400 + 1}:19: services[400].tags[1]: must be a string`,
    ]);
  });

  it('points at an unknown key inside a flow map', async () => {
    const path = await tmp.write('flow.yaml', 'services:\n  - id: web\n    check: { tcp: "127.0.0.1:80", interval: 1s, retries: 3 }\n');
    const lines = (await loadManifest(path, {})).issues.map(formatIssue);
    expect(lines).toEqual([`${path}:3:49: services[0].check.retries: unknown key "retries"`]);
  });

  it('locates a key whose value is empty, and the entries after an empty one', async () => {
    const path = await tmp.write('empty.yaml', 'agent:\n  heartbeat:\n  log_level: info\nservices:\n  - id: a-service\n  -\n  - id: x\n');
    const lines = (await loadManifest(path, {})).issues.map(formatIssue);
    expect(lines).toContain(`${path}:2:13: agent.heartbeat: must be one of "session", "service"`);
    expect(lines).toContain(`${path}:6:4: services[1]: must be an object`);
    expect(lines).toContain(`${path}:7:9: services[2].id: must be 3..65 characters of a-z, 0-9, _, - and .`);
  });

  it('refuses an empty file (or one of comments only): an emptied manifest is a mistake, not "no services"', async () => {
    for (const text of ['', '# nothing yet\n']) {
      const file = await tmp.write('empty.yaml', text);
      const { manifest, issues } = await loadManifest(file, {});
      expect(manifest).toBeNull();
      expect(issues.map(formatIssue)).toEqual([`${file}:1:1: the file is empty (a manifest file needs at least upstream, agent or services)`]);
    }
  });

  it('rejects a file of two documents, and a duplicate key, at their place', async () => {
    const multi = await tmp.write('multi.yaml', 'services:\n  - id: alpha\n---\nservices:\n  - id: beta\n');
    expect((await loadManifest(multi, {})).issues.map(formatIssue)).toEqual([
      `${multi}:3:1: expected a single YAML document, but found more (--- starts another)`,
    ]);
    const dup = await tmp.write('dup.yaml', 'services:\n  - id: alpha\n    tags: [a]\n    tags: [b]\n');
    expect((await loadManifest(dup, {})).issues.map(formatIssue)).toEqual([`${dup}:4:5: Map keys must be unique`]);
  });
});
