import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTraceHooks } from '../helpers/module-trace.js';
import { cliMain, spawnProc } from '../helpers/procs.js';
import { createTempDir, type TempDir } from '../helpers/tmp.js';
import { startHealthServer, type HealthServer } from './grpc-health-server.js';

/**
 * grpc-js is loaded by the agent only for a gRPC check: the built CLI, run
 * as `tether agent` under module-tracing hooks, loads the bundle chunk that
 * holds grpc-js only when its manifest has a gRPC check (the positive case
 * proves the test can see the chunk at all).
 */

let tmp: TempDir;
let grpc: HealthServer;
let register: string;

beforeAll(async () => {
  tmp = await createTempDir('grpc-lazy');
  grpc = await startHealthServer();
  register = await writeTraceHooks(tmp);
});
afterAll(async () => {
  await grpc.stop();
  await tmp.remove();
});

/** The files of ours the agent loaded by the time its one service was healthy. */
async function agentModules(name: string, check: string): Promise<string[]> {
  const config = await tmp.write(
    `${name}.yaml`,
    `upstream:\n  url: http://127.0.0.1:1/v1.0/t\nagent:\n  listen: 127.0.0.1:0\n  state_dir: ${join(tmp.path, name)}\nservices:\n  - id: svc-1\n    check: ${check}\n`,
  );
  const trace = join(tmp.path, `${name}.trace`);
  const agent = spawnProc(process.execPath, ['--import', register, cliMain(), 'agent', '--config', config], {
    env: { PATH: process.env.PATH ?? '', TETHER_TRACE_FILE: trace },
  });
  try {
    await agent.waitForLog((r) => r.msg === 'service is healthy', 20_000);
  } finally {
    await agent.stop('SIGKILL');
  }
  return (await readFile(trace, 'utf8')).split('\n').filter((u) => u.startsWith('file:'));
}

/** Whether any of `urls` is a file holding grpc-js (one of its channel option names is in it). */
async function holdsGrpcJs(urls: string[]): Promise<boolean> {
  for (const url of new Set(urls)) {
    if ((await readFile(fileURLToPath(url), 'utf8')).includes('grpc.max_receive_message_length')) return true;
  }
  return false;
}

describe('grpc-js is loaded lazily', () => {
  it('an agent with a gRPC check loads it; one without never does', async () => {
    const withGrpc = await agentModules('with', `{ grpc: "127.0.0.1:${grpc.port}", interval: 200ms }`);
    const without = await agentModules('without', `{ tcp: "127.0.0.1:${grpc.port}", interval: 200ms }`);
    expect(await holdsGrpcJs(withGrpc)).toBe(true);
    expect(await holdsGrpcJs(without)).toBe(false);
  });
});
