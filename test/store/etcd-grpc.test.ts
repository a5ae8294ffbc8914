import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { fromJSON, loadSync, type MessageTypeDefinition, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCode } from '../../src/lib/errors.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd.js';
import { ETCD_RPC } from '../../src/store/etcd-grpc-proto.js';
import { EtcdGrpc } from '../../src/store/etcd-grpc.js';
import { b64 } from '../../src/store/etcd-gateway.js';
import { etcdGrpcCalls, uniquePrefix, useEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

/**
 * The etcd store over etcd's gRPC API (EtcdGrpc): the shipped descriptor is
 * the .proto, failover between members keeps the gateway's rule (a write
 * moves on only when it surely was not sent), and closing the store lets the
 * process exit. Real etcd, three members (one is paused: the other two keep a quorum).
 */

const etcd = useEtcd(3);
const PROTO = fileURLToPath(new URL('../../src/store/etcd-rpc.proto', import.meta.url));

/** gRPC calls of `method` member `url` has started (its Prometheus metrics; the gateway's requests count too). */
async function started(url: string, method: string): Promise<number> {
  return etcdGrpcCalls(url, [method], 'started');
}

const open: EtcdStore[] = [];
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
});

async function grpcStore(endpoints: string[], timeoutMs = 1_000): Promise<EtcdStore> {
  const store = await openEtcdStore({ endpoints, prefix: uniquePrefix(), compactionIntervalMs: 0, timeoutMs, transport: 'grpc' });
  open.push(store);
  return store;
}

/** etcd-grpc-calls.ts's loader options: the definitions compared are the ones the store uses. */
const LOADER = { keepCase: true, longs: String, enums: String, bytes: String, defaults: false, arrays: false } as const;

/**
 * What a package definition tells grpc-js, comparable with toEqual: each
 * service's methods (path, streaming, request and response descriptors) and
 * each message's descriptor, plus the serialized file descriptor behind them.
 */
function described(pkg: PackageDefinition): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(pkg)) {
    if ('format' in def) {
      const t = def as MessageTypeDefinition<object, object>;
      out[name] = { format: t.format, type: t.type, file: t.fileDescriptorProtos.map((b) => Buffer.from(b).toString('base64')) };
      continue;
    }
    const methods: Record<string, unknown> = {};
    for (const [m, d] of Object.entries(def as ServiceDefinition)) {
      methods[m] = { path: d.path, requestStream: d.requestStream, responseStream: d.responseStream, request: d.requestType.type, response: d.responseType.type, options: d.options };
    }
    out[name] = methods;
  }
  return out;
}

describe('the gRPC descriptor', () => {
  it('etcd-grpc-proto.ts gives @grpc/proto-loader the same service definitions as etcd-rpc.proto', () => {
    // After an edit of the .proto, regenerate the constant from it (protobufjs Root.loadSync(file, { keepCase: true }).toJSON()).
    const fromProto = described(loadSync(PROTO, LOADER));
    const shipped = described(fromJSON(ETCD_RPC as unknown as Parameters<typeof fromJSON>[0], LOADER));
    expect(Object.keys(shipped)).toContain('etcdserverpb.KV');
    expect(shipped).toEqual(fromProto);
  });
});

describe('etcd over gRPC: failover between members', () => {
  let refused: string;
  beforeAll(async () => {
    refused = `http://127.0.0.1:${await freePort()}`;
  });

  it('a write goes to the next member when the first refuses the connection, and reaches etcd once', async () => {
    const live = etcd().members[1]!.clientUrl;
    const store = await grpcStore([refused, live]);
    const before = await started(live, 'Txn');
    const r = await store.txn([{ key: 'k', op: 'absent' }], [{ type: 'put', key: 'k', value: 'v' }]);
    expect(r.succeeded).toBe(true);
    expect(await started(live, 'Txn')).toBe(before + 1);
    expect((await store.get('k'))?.value).toBe('v');
  });

  it('a write sent to a member that then hangs fails with store.unavailable and is not sent again to another; a read moves on', async () => {
    const [m0, m1, m2] = etcd().members;
    const store = await grpcStore([m0!.clientUrl, m1!.clientUrl, m2!.clientUrl]);
    await store.txn([], [{ type: 'put', key: 'seen', value: '1' }]); // the channel to m0 is up: the next call is sent
    const others = async (): Promise<number> => (await started(m1!.clientUrl, 'Txn')) + (await started(m2!.clientUrl, 'Txn'));
    const before = await others();
    m0!.pause();
    try {
      const t0 = Date.now();
      const err = await store.txn([], [{ type: 'put', key: 'maybe', value: '1' }]).then(() => null, (e: unknown) => e);
      expect(hasCode(err, 'store.unavailable')).toBe(true);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(await others()).toBe(before);
      // A read may go anywhere: it moves on to a member that answers, and later calls stay there.
      expect((await store.get('seen'))?.value).toBe('1');
      expect((await store.txn([], [{ type: 'put', key: 'after', value: '2' }])).succeeded).toBe(true);
      expect(await others()).toBeGreaterThan(before);
    } finally {
      m0!.resume();
    }
  });

  it('a read moves on past a member whose streams are reset (RST_STREAM INTERNAL); a write there fails store.unavailable, not resent', async () => {
    // An h2c server resetting every stream, as a proxy or a member dying mid-stream would.
    const rst = http2.createServer();
    rst.on('stream', (s) => {
      s.on('error', () => {});
      s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    await new Promise<void>((resolve) => rst.listen(0, '127.0.0.1', resolve));
    const live = etcd().members[1]!.clientUrl;
    const gw = new EtcdGrpc({ endpoints: [`http://127.0.0.1:${(rst.address() as AddressInfo).port}`, live], timeoutMs: 1_000 });
    try {
      const key = `${uniquePrefix()}rst`;
      const before = await started(live, 'Put');
      const put = await gw.call('/v3/kv/put', { key: b64(key), value: b64('w') }, false).then(() => null, (e: unknown) => e);
      expect(hasCode(put, 'store.unavailable')).toBe(true);
      expect(String((put as Error).message)).toMatch(/RST_STREAM/);
      expect(await started(live, 'Put')).toBe(before);
      const ranges = await started(live, 'Range');
      const read = await gw.call<{ count?: string }>('/v3/kv/range', { key: b64(key) }, true);
      expect(read.count).toBeUndefined(); // answered by the live member: the write above reached no etcd
      expect(await started(live, 'Range')).toBe(ranges + 1);
    } finally {
      await gw.close();
      rst.close();
    }
  });

  it('errors keep the gateway codes: a revoked lease is store.lease_not_found, an unknown lease keeps alive as false', async () => {
    const store = await grpcStore(etcd().endpoints);
    const lease = await store.grantLease(5_000);
    expect(await store.keepAlive(lease)).toBe(true);
    await store.revokeLease(lease);
    expect(await store.keepAlive(lease)).toBe(false);
    const err = await store.txn([], [{ type: 'put', key: 'leased', value: 'x', lease }]).then(() => null, (e: unknown) => e);
    expect(hasCode(err, 'store.lease_not_found')).toBe(true);
    const gw = new EtcdGrpc({ endpoints: etcd().endpoints, timeoutMs: 1_000 });
    try {
      // Past the current revision: etcd's own refusal, mapped by its message, carrying no request body.
      const future = await gw.call('/v3/kv/range', { key: b64('x'), revision: '999999999' }, true).then(() => null, (e: unknown) => e);
      expect(hasCode(future, 'store.failed')).toBe(true);
      expect(String((future as Error).message)).toMatch(/^etcd: etcdserver: mvcc: required revision is a future revision/);
      expect(await gw.call('/v3/maintenance/status', {}, true)).toMatchObject({ dbSize: expect.stringMatching(/^\d+$/) });
    } finally {
      await gw.close();
    }
  });
});

describe('etcd over gRPC: close', () => {
  it('a process that opened a store, watched, wrote and closed it exits on its own', async () => {
    const script = [
      `const { openEtcdStore } = await import(${JSON.stringify(new URL('../../src/store/etcd.ts', import.meta.url).href)});`,
      `const store = await openEtcdStore({ endpoints: ${JSON.stringify(etcd().endpoints)}, prefix: '${uniquePrefix()}', transport: 'grpc' });`,
      'const from = (await store.watchedRevision()) + 1;',
      "const seen = new Promise((resolve) => store.watch('', from, (evs) => evs.some((e) => e.key === 'a') && resolve(), new AbortController().signal));",
      "await store.txn([], [{ type: 'put', key: 'a', value: '1' }]);",
      'await seen;',
      'await store.keepAlive(await store.grantLease(5000));',
      'await store.close();',
      "console.log('closed');",
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const code = await exited;
      expect({ code, out: out.trim(), err }).toEqual({ code: 0, out: 'closed', err: '' });
    } finally {
      clearTimeout(timer);
    }
  });
});
