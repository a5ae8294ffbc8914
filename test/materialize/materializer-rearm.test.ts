import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import { Materializer } from '../../src/materialize/materializer.js';
import { silentLogger } from '../../src/observability/logger.js';
import { AgentMetrics } from '../../src/observability/metrics.js';
import type { Registry } from '../../src/registry/registry.js';
import { registryImplementation, type RegistryHarness } from '../helpers/registries.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Issue 20 item 3: the feed's next long-poll is sent once the files a page
 * changed are written (so the registry does not answer it on the CPUs the
 * write needs), but never later than REARM_WAIT_MAX_MS: a file's slow check
 * does not hold the feed back. A real registry over HTTP on 127.0.0.1:0.
 */

interface Call {
  at: number;
  marker: string | undefined;
  /** The files' bytes when the call was made. */
  fast: string | null;
  slow: string | null;
}

const TENANT = 'rearm';
const CHECK_SECONDS = 1.5;
/**
 * The cap on the re-arm's wait, raised from REARM_WAIT_MAX_MS: the registry runs in this process, and on a
 * busy machine a render here took longer than 50 ms, so the poll went out at the cap before the bytes.
 */
const REARM_CAP_MS = 500;
let tmp: TempDir;
let harness: RegistryHarness;
let materializer: Materializer;
const calls: Call[] = [];
const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};
const fastPath = (): string => join(tmp.path, 'out', 'fast');
const slowPath = (): string => join(tmp.path, 'out', 'slow');

/** The harness's registry, with each listEvents call noted (time, marker, the files' bytes) before it goes out. */
function recording(registry: Registry): Registry {
  return new Proxy(registry, {
    get(target, key) {
      if (key === 'listEvents') {
        return (...args: Parameters<Registry['listEvents']>) => {
          calls.push({ at: performance.now(), marker: args[1]?.marker, fast: read(fastPath()), slow: read(slowPath()) });
          return target.listEvents(...args);
        };
      }
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

beforeAll(async () => {
  tmp = await createTempDir('rearm');
  harness = await registryImplementation('http').open();
  await harness.registry.setConfig(TENANT, '/app/fast', { value: 'f0' });
  await harness.registry.setConfig(TENANT, '/app/slow', { value: 's0' });
  const config = await tmp.write(
    'tether.yaml',
    [
      `upstream: { url: http://127.0.0.1:1/v1.0/${TENANT} }`,
      `agent: { state_dir: ${JSON.stringify(join(tmp.path, 'state'))} }`,
      'files:',
      `  - path: ${JSON.stringify(fastPath())}`,
      '    from: { key: /app/fast }',
      `  - path: ${JSON.stringify(slowPath())}`,
      '    from: { key: /app/slow }',
      `    check: [/bin/sh, -c, 'sleep ${CHECK_SECONDS}']`,
      '',
    ].join('\n'),
  );
  const { manifest, issues } = await loadManifest(config);
  expect(issues).toEqual([]);
  materializer = new Materializer({
    registry: recording(harness.registry),
    tenant: TENANT,
    files: manifest!.files,
    hooks: [],
    stateDir: join(tmp.path, 'state'),
    resyncIntervalMs: 3_600_000,
    log: silentLogger(),
    metrics: new AgentMetrics(),
    rearmWaitMaxMs: REARM_CAP_MS,
  });
  materializer.start();
  await vi.waitFor(() => expect([read(fastPath()), read(slowPath())]).toEqual(['f0', 's0']), { timeout: 15_000, interval: 20 });
}, 30_000);

afterAll(async () => {
  await materializer?.close();
  await harness?.close();
  await tmp?.remove();
});

/** The id of the tenant's newest event (a few dozen at most here: one page). */
async function newestEventId(): Promise<string> {
  const page = await harness.registry.listEvents(TENANT, { limit: 1000 });
  return page.values.at(-1)!.id;
}

/** Waits until the feed has sent its long-poll from `id` (it has handled everything up to it); returns that call. */
async function parkedAt(id: string): Promise<Call> {
  await vi.waitFor(() => expect(calls.some((c) => c.marker === id)).toBe(true), { timeout: 10_000, interval: 5 });
  return calls.find((c) => c.marker === id)!;
}

describe('the feed re-arms after the files it changed are written', () => {
  it('the next long-poll goes out after the new bytes are on disk, each round', async () => {
    await parkedAt(await newestEventId());
    for (let i = 1; i <= 5; i++) {
      await harness.registry.setConfig(TENANT, '/app/fast', { value: `f${i}` });
      const rearm = await parkedAt(await newestEventId());
      expect(rearm.fast).toBe(`f${i}`);
    }
  }, 60_000);

  it(`a slow render (a check) holds the next long-poll ${REARM_CAP_MS} ms at most (the cap), not until it ends`, async () => {
    await parkedAt(await newestEventId());
    const t0 = performance.now();
    await harness.registry.setConfig(TENANT, '/app/slow', { value: 's1' });
    const rearm = await parkedAt(await newestEventId());
    // Sent while the check still ran: the old bytes are still in place.
    expect(rearm.slow).toBe('s0');
    expect(rearm.at - t0).toBeLessThan(CHECK_SECONDS * 1000 - 200);
    await vi.waitFor(() => expect(read(slowPath())).toBe('s1'), { timeout: 10_000, interval: 20 });
  }, 30_000);
});
