import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, startProcess } from '../../src/lib/process.js';
import { runAction } from '../../src/materialize/actions.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';

/**
 * Children never inherit the agent's own secrets (TETHER_AGENT_TOKEN, the etcd
 * password): real processes started the ways tether starts them.
 */

let dir: TempDir;
const saved = { token: process.env.TETHER_AGENT_TOKEN, etcd: process.env.TETHER_ETCD_PASSWORD };
beforeAll(async () => {
  dir = await createTempDir('child-env');
  process.env.TETHER_AGENT_TOKEN = 'agent-s3cret';
  process.env.TETHER_ETCD_PASSWORD = 'etcd-s3cret';
  process.env.CHILD_ENV_ODD = 'kept';
});
afterAll(async () => {
  for (const [name, value] of [['TETHER_AGENT_TOKEN', saved.token], ['TETHER_ETCD_PASSWORD', saved.etcd], ['CHILD_ENV_ODD', undefined]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await dir.remove();
});

const PRINT = 'echo "token=${TETHER_AGENT_TOKEN-unset} etcd=${TETHER_ETCD_PASSWORD-unset} odd=${CHILD_ENV_ODD-unset}"';
const STRIPPED = 'token=unset etcd=unset odd=kept\n';

describe('the environment a child inherits', () => {
  it('runProcess (probes, check commands): the rest of the environment, without the agent secrets', async () => {
    expect((await runProcess({ argv: ['/bin/sh', '-c', PRINT] })).output).toBe(STRIPPED);
  });

  it('startProcess (the tether exec child)', async () => {
    const out = join(dir.path, 'start.out');
    const p = await startProcess({ argv: ['/bin/sh', '-c', `${PRINT} > ${out}`] });
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(await readFile(out, 'utf8')).toBe(STRIPPED);
  });

  it('an exec action (hooks, reload commands) drops them; one the action sets explicitly is kept', async () => {
    const spec = { kind: 'exec' as const, argv: [PRINT], shell: true, timeoutMs: 10_000 };
    const plain = await runAction(spec);
    expect(plain).toMatchObject({ ok: true });
    expect(plain.output).toContain(STRIPPED.trim());
    const explicit = await runAction(spec, { env: { TETHER_AGENT_TOKEN: 'given' } });
    expect(explicit.output).toContain('token=given etcd=unset odd=kept');
  });
});
