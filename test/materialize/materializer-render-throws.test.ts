import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadManifest } from '../../src/manifest/load.js';
import { Materializer } from '../../src/materialize/materializer.js';
import { createLogger } from '../../src/observability/logger.js';
import { AgentMetrics } from '../../src/observability/metrics.js';
import { registryImplementation, type RegistryHarness } from '../helpers/registries.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * A render that throws (here the agent's onFileChange callback) must not end
 * in an unhandled rejection, which would stop the agent (R11 #9), nor leave
 * the file's render chain rejected: each later change of the file still
 * renders, and the feed's next long-poll is not held back by it.
 */

const TENANT = 'render-throws';
let tmp: TempDir;
let harness: RegistryHarness;
let materializer: Materializer;
const changes: string[] = [];
const logLines: Array<Record<string, unknown>> = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
const outPath = (): string => join(tmp.path, 'out', 'file');
const read = (): string | null => {
  try {
    return readFileSync(outPath(), 'utf8');
  } catch {
    return null;
  }
};

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  tmp = await createTempDir('render-throws');
  harness = await registryImplementation('direct').open();
  await harness.registry.setConfig(TENANT, '/app/value', { value: 'v0' });
  const config = await tmp.write(
    'tether.yaml',
    [
      `upstream: { url: http://127.0.0.1:1/v1.0/${TENANT} }`,
      `agent: { state_dir: ${JSON.stringify(join(tmp.path, 'state'))} }`,
      'files:',
      `  - path: ${JSON.stringify(outPath())}`,
      '    from: { key: /app/value }',
      '',
    ].join('\n'),
  );
  const { manifest, issues } = await loadManifest(config);
  expect(issues).toEqual([]);
  const destination = { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) };
  materializer = new Materializer({
    registry: harness.registry,
    tenant: TENANT,
    files: manifest!.files,
    hooks: [],
    stateDir: join(tmp.path, 'state'),
    resyncIntervalMs: 3_600_000,
    log: createLogger({ level: 'error', destination }),
    metrics: new AgentMetrics(),
    onFileChange: (path) => {
      changes.push(read() ?? '');
      throw new Error(`callback failed for ${path}`);
    },
  });
  materializer.start();
}, 30_000);

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await materializer?.close();
  await harness?.close();
  await tmp?.remove();
});

describe('a render whose onFileChange throws', () => {
  it('is logged, leaves no unhandled rejection, and every later change still renders', async () => {
    await vi.waitFor(() => expect(changes).toEqual(['v0']), { timeout: 15_000, interval: 20 });
    for (let i = 1; i <= 3; i++) {
      await harness.registry.setConfig(TENANT, '/app/value', { value: `v${i}` });
      await vi.waitFor(() => expect(read()).toBe(`v${i}`), { timeout: 15_000, interval: 20 });
    }
    await vi.waitFor(() => expect(changes).toEqual(['v0', 'v1', 'v2', 'v3']), { timeout: 5_000, interval: 20 });
    // Node reports an unhandled rejection a turn after the promise rejected: let that turn pass.
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    const threw = logLines.filter((l) => l.msg === 'render threw; the next change renders again');
    expect(threw).toHaveLength(4);
    expect(threw[0]).toMatchObject({ file: outPath(), err: expect.stringContaining('callback failed') });
  }, 60_000);
});
