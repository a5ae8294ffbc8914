import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { INTERPOLATION_PATTERN, manifestJsonSchema } from '../../src/manifest/json-schema.js';
import { loadManifest } from '../../src/manifest/load.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * The published JSON Schema, as an editor uses it (ajv, on the YAML as
 * written, before ${VAR} expansion): it accepts `${VAR}` wherever the
 * manifest does, and still constrains literal values.
 */

const root = join(import.meta.dirname, '..', '..');

function validator() {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  ajv.addFormat('uri', (s: string) => URL.canParse(s));
  return ajv.compile(manifestJsonSchema());
}

/** The YAML as an editor's schema check sees it: plain data, ${VAR} unexpanded. */
function asWritten(text: string): unknown {
  return parseDocument(text, { schema: 'core', merge: false }).toJS();
}

// A ${VAR} in each kind of field the schema constrains: patterns (id, tcp, mode, signal, queue), numbers and
// integers (rise, fall, concurrency), booleans, durations, enums, URLs, lengths, and a number-or-string union.
const INTERPOLATED = `
upstream:
  url: \${REGISTRY_URL}
  timeout: \${UPSTREAM_TIMEOUT}
agent:
  listen: 127.0.0.1:\${AGENT_PORT}
  heartbeat: \${HEARTBEAT_MODE}
  log_level: \${LOG_LEVEL:-info}
services:
  - id: web-\${HOSTNAME:-local}
    tags: ["\${TAG}"]
    metadata:
      port: \${PORT}
      canary: \${CANARY}
    heartbeat_timeout: \${HB_TIMEOUT}
    on_unhealthy: \${ON_UNHEALTHY}
    check:
      http:
        url: http://127.0.0.1:\${PORT}/healthz
        method: \${METHOD}
        expect_status: \${EXPECT}
        tls_skip_verify: \${SKIP_VERIFY}
      interval: \${INTERVAL}
      rise: \${RISE}
      fall: \${FALL}
  - id: db-\${HOSTNAME:-local}
    check:
      tcp: 127.0.0.1:\${PORT}
      timeout: \${TIMEOUT}
actions:
  reload:
    exec: [nginx, -s, reload]
    shell: \${SHELL_FLAG}
    timeout: \${TIMEOUT}
  hup:
    signal: \${SIGNAL}
    pidfile: /run/app.pid
  notify:
    queue: \${QUEUE}
    ttl: \${MSG_TTL}
files:
  - path: out.json
    from:
      key: /app/\${ENV_NAME}/conf
    mode: \${MODE}
    owner: \${OWNER_UID}
    on_missing: \${ON_MISSING}
    wait:
      min: \${WAIT_MIN}
      max: \${WAIT_MAX}
workers:
  - name: w1
    queue: \${QUEUE}
    concurrency: \${CONCURRENCY}
    action: reload
`;

const ENV: NodeJS.ProcessEnv = {
  REGISTRY_URL: 'http://127.0.0.1:8470/v1.0/t1',
  UPSTREAM_TIMEOUT: '5s',
  AGENT_PORT: '8471',
  HEARTBEAT_MODE: 'service',
  TAG: 'blue',
  PORT: '8080',
  CANARY: 'true',
  HB_TIMEOUT: '20',
  ON_UNHEALTHY: 'keep',
  METHOD: 'HEAD',
  EXPECT: '200-204',
  SKIP_VERIFY: 'true',
  INTERVAL: '2s',
  RISE: '2',
  FALL: '4',
  TIMEOUT: '1500ms',
  SHELL_FLAG: 'false',
  SIGNAL: 'SIGHUP',
  QUEUE: 'jobs',
  MSG_TTL: '1h',
  ENV_NAME: 'prod',
  MODE: '0640',
  OWNER_UID: '1000',
  ON_MISSING: 'delete',
  WAIT_MIN: '1s',
  WAIT_MAX: '4s',
  CONCURRENCY: '3',
};

describe('the published JSON Schema and ${VAR}', () => {
  let tmp: TempDir | undefined;
  afterEach(async () => tmp?.remove());

  it('accepts config.example.yaml as written', async () => {
    const validate = validator();
    const ok = validate(asWritten(await readFile(join(root, 'config.example.yaml'), 'utf8')));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('accepts ${VAR} in every kind of constrained field, and the manifest reads the same file with the values typed', async () => {
    const validate = validator();
    const ok = validate(asWritten(INTERPOLATED));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);

    tmp = await createTempDir('schema');
    const file = await tmp.write('tether.yaml', INTERPOLATED);
    const { manifest, issues } = await loadManifest(file, ENV);
    expect(issues).toEqual([]);
    const web = manifest?.services[0];
    expect(web?.id).toBe('web-local');
    expect(web?.heartbeatTimeoutSec).toBe(20);
    expect(web?.check).toMatchObject({ rise: 2, fall: 4, intervalMs: 2000, probe: { kind: 'http', method: 'HEAD', tlsSkipVerify: true, expectStatus: [[200, 204]] } });
    expect(web?.metadata).toEqual({ port: '8080', canary: 'true' });
    expect(manifest?.workers[0]?.concurrency).toBe(3);
    // A digit string is a uid to the writer, as the number would be.
    expect(manifest?.files[0]).toMatchObject({ mode: 0o640, owner: '1000', onMissing: 'delete', waitMinMs: 1000, waitMaxMs: 4000 });
    expect(manifest?.actions.reload).toMatchObject({ kind: 'exec', shell: false, timeoutMs: 1500 });
  });

  it('still refuses literal values the manifest refuses', () => {
    const validate = validator();
    const bad = asWritten(`
services:
  - id: "has space"
    on_unhealthy: sometimes
    check: { tcp: "127.0.0.1:80", rise: three, interval: soon }
actions:
  a: { exec: [x], shell: maybe }
`);
    expect(validate(bad)).toBe(false);
    const where = new Set((validate.errors ?? []).map((e) => e.instancePath));
    for (const p of ['/services/0/id', '/services/0/on_unhealthy', '/services/0/check/rise', '/services/0/check/interval']) expect(where).toContain(p);
  });

  it('a ${VAR} that expands to something a number field refuses is still an issue, at its line:column', async () => {
    tmp = await createTempDir('schema');
    const file = await tmp.write('tether.yaml', 'services:\n  - id: web\n    check:\n      tcp: 127.0.0.1:80\n      rise: ${RISE}\n');
    const { manifest, issues } = await loadManifest(file, { RISE: 'two' });
    expect(manifest).toBeNull();
    expect(issues).toEqual([expect.objectContaining({ line: 5, column: 13, path: 'services[0].check.rise', message: 'must be a number' })]);
  });

  it('every number, integer and boolean of the schema sits in a union with the ${VAR} branch', () => {
    const loose: string[] = [];
    const walk = (node: unknown, path: string, inUnionWithVar: boolean): void => {
      if (node === null || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if ((n.type === 'number' || n.type === 'integer' || n.type === 'boolean') && !inUnionWithVar) loose.push(path);
      const alts = Array.isArray(n.anyOf) ? (n.anyOf as Array<Record<string, unknown>>) : [];
      const hasVar = alts.some((a) => a.pattern === INTERPOLATION_PATTERN);
      alts.forEach((a, i) => walk(a, `${path}|${i}`, hasVar));
      for (const [k, v] of Object.entries((n.properties as object | undefined) ?? {})) walk(v, `${path}.${k}`, false);
      if (n.items) walk(n.items, `${path}[]`, false);
      if (typeof n.additionalProperties === 'object') walk(n.additionalProperties, `${path}.*`, false);
    };
    walk(manifestJsonSchema(), '', false);
    expect(loose).toEqual([]);
  });
});
