import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRegistry } from '../../src/client/http-registry.js';
import { isFault } from '../../src/registry/faults.js';
import { spawnTether, startRegistry, type RegistryProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

let tmp: TempDir;
let registry: RegistryProc;

beforeAll(async () => {
  tmp = await createTempDir('registry-cli');
  registry = await startRegistry(join(tmp.path, 'data'), 0, ['--limits', 'service=2,configuration_value=500']);
});
afterAll(async () => {
  await registry.stop();
  await tmp.remove();
});

describe('tether registry --limits', () => {
  it('sets the resource limits of every tenant', async () => {
    const client = new HttpRegistry({ url: registry.url });
    try {
      await client.createService('lim', { id: 'svc-one', heartbeat_timeout: 30 });
      await client.createService('lim', { id: 'svc-two', heartbeat_timeout: 30 });
      const err = await client.createService('lim', { id: 'svc-three', heartbeat_timeout: 30 }).catch((e: unknown) => e);
      expect(isFault(err, 'limitReached')).toBe(true);
      expect((err as { details: string }).details).toBe('Limit for resource service has been reached. Maximum allowed objects: 2');
    } finally {
      await client.close();
    }
    const p = spawnTether(['limits', '--json', '--url', `${registry.url}/v1.0/lim`]);
    expect((await p.exited).code).toBe(0);
    expect(JSON.parse(p.stdout())).toMatchObject({ resource: { service: 2, configuration_value: 500, session: 100 } });
  });

  it('rejects a malformed --limits with a usage error (exit 2)', async () => {
    const p = spawnTether(['registry', '--data', join(tmp.path, 'bad'), '--limits', 'services=3']);
    expect((await p.exited).code).toBe(2);
    expect(p.log.join('\n')).toContain('--limits');
  });

  it('checks the storage flags together: each engine its own, with a usage error (exit 2)', async () => {
    const cases: Array<[string[], string]> = [
      [['--store', 'etcd'], '--etcd-endpoints'],
      [['--store', 'etcd', '--etcd-endpoints', 'http://127.0.0.1:2379', '--data', join(tmp.path, 'x')], '--data is for --store sqlite'],
      [['--data', join(tmp.path, 'y'), '--etcd-endpoints', 'http://127.0.0.1:2379'], '--etcd-* flags need --store etcd'],
      [['--store', 'etcd', '--etcd-endpoints', '127.0.0.1:2379'], 'is not http(s)://HOST:PORT'],
      [['--store', 'mysql', '--data', join(tmp.path, 'z')], '--store must be sqlite or etcd'],
      // Not sent to etcd, and never to be logged.
      [['--store', 'etcd', '--etcd-endpoints', 'http://root:s3cret@127.0.0.1:9', '--etcd-timeout', '500ms'], 'carries user:password'],
    ];
    for (const [args, says] of cases) {
      const p = spawnTether(['registry', ...args]);
      expect((await p.exited).code, args.join(' ')).toBe(2);
      expect(p.log.join('\n') + p.stdout()).toContain(says);
      expect(p.log.join('\n') + p.stdout()).not.toContain('s3cret');
    }
  });

  it('exits 1 with one clear line when etcd cannot be reached', async () => {
    const p = spawnTether(['registry', '--store', 'etcd', '--etcd-endpoints', 'http://127.0.0.1:9', '--etcd-timeout', '500ms']);
    const { code } = await p.exited;
    expect(code).toBe(1);
    expect(p.log.join('\n')).toContain('etcd at http://127.0.0.1:9 did not answer');
  });
});
