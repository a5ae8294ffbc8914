import grpc from '@grpc/grpc-js';
import { fromJSON, type MethodDefinition } from '@grpc/proto-loader';
import { ETCD_RPC } from './etcd-grpc-proto.js';

/**
 * The gRPC methods of etcd the store calls, by the JSON gateway's path, and
 * one call of each shape on a grpc-js Client. The loader options give every
 * message the gateway's JSON shape: int64 as strings, bytes as base64, enums
 * by name, zero values left out (proto3 JSON does the same). Requests in that
 * shape encode as they are (protobufjs' fromObject reads base64 and strings).
 */
const LOADER = { keepCase: true, longs: String, enums: String, bytes: String, defaults: false, arrays: false } as const;

type Method = MethodDefinition<unknown, unknown>;

const BY_PATH: Record<string, readonly [string, string]> = {
  '/v3/kv/range': ['KV', 'Range'],
  '/v3/kv/put': ['KV', 'Put'],
  '/v3/kv/deleterange': ['KV', 'DeleteRange'],
  '/v3/kv/txn': ['KV', 'Txn'],
  '/v3/kv/compaction': ['KV', 'Compact'],
  '/v3/lease/grant': ['Lease', 'LeaseGrant'],
  '/v3/lease/revoke': ['Lease', 'LeaseRevoke'],
  '/v3/lease/keepalive': ['Lease', 'LeaseKeepAlive'],
  '/v3/maintenance/status': ['Maintenance', 'Status'],
  '/v3/auth/authenticate': ['Auth', 'Authenticate'],
  '/v3/watch': ['Watch', 'Watch'],
};

let methods: Map<string, Method> | undefined;

/** The method behind a gateway path; undefined for a path this subset does not carry. */
export function methodOf(path: string): Method | undefined {
  if (methods === undefined) {
    const pkg = fromJSON(ETCD_RPC as unknown as Parameters<typeof fromJSON>[0], LOADER);
    methods = new Map();
    for (const [p, [service, name]] of Object.entries(BY_PATH)) {
      methods.set(p, (pkg[`etcdserverpb.${service}`] as Record<string, Method>)[name]!);
    }
  }
  return methods.get(path);
}

/** A timer this much later than due means the loop itself was held (not the usual jitter of a loaded host). */
const STALLED_MS = 10;
/** How many stalls a call is given back: a loop held again and again must still fail a call to a hung member. */
const MAX_STALLS = 3;

/**
 * Runs `onExpired` once `deadline` (epoch ms) has passed, judged one turn of the event loop after
 * its timer (setImmediate), as HttpPool does: when the loop was busy past it (a registry waking
 * 10,000 long-polls in one macrotask), timers run before the I/O that arrived meanwhile, and a
 * reply etcd sent in time would count as late. This is why no call here gives grpc-js a
 * `deadline`: its own timer fails the call in the timers phase.
 *
 * A timer that fires late by more than STALLED_MS is re-armed for that lag instead: the loop was
 * held, and grpc-js writes a request only from a later turn (http2 flushes from an immediate), so
 * a loop held right after the call had not even sent it: etcd then applies it after its deadline
 * has passed by the loop's clock. The call gets back the time the loop stole, up to MAX_STALLS times.
 * Returns the cancel function.
 */
export function afterDeadline(deadline: number, onExpired: () => void): () => void {
  let verdict: NodeJS.Immediate | undefined;
  let stalls = 0;
  let due = Math.max(deadline, Date.now());
  const fire = (): void => {
    const late = Date.now() - due;
    if (late > STALLED_MS && stalls < MAX_STALLS) {
      stalls++;
      due = Date.now() + late;
      timer = setTimeout(fire, late);
      return;
    }
    verdict = setImmediate(onExpired);
  };
  let timer = setTimeout(fire, due - Date.now());
  return () => {
    clearTimeout(timer);
    clearImmediate(verdict);
  };
}

/** The error of a call that had no reply by its deadline, shaped as grpc-js's own. */
function deadlineExceeded(started: number): Error {
  const details = `Deadline exceeded after ${((Date.now() - started) / 1000).toFixed(3)}s`;
  return Object.assign(new Error(`${grpc.status.DEADLINE_EXCEEDED} DEADLINE_EXCEEDED: ${details}`), { code: grpc.status.DEADLINE_EXCEEDED, details });
}

/** One unary call; fails with DEADLINE_EXCEEDED (and cancels it) when it has no reply by `deadline`. */
export function unaryCall<T>(client: grpc.Client, m: Method, body: unknown, md: grpc.Metadata, deadline: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let settled = false;
    let call: grpc.ClientUnaryCall | undefined;
    const stop = afterDeadline(deadline, () => {
      if (settled) return;
      settled = true;
      reject(deadlineExceeded(started));
      call?.cancel();
    });
    call = client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, body, md, {}, (err, reply) => {
      if (settled) return;
      settled = true;
      stop();
      if (err) reject(err);
      else resolve(reply as T);
    });
  });
}

/**
 * A lease keep-alive: etcd has it only as a stream. One short stream per call
 * (one request, half-closed at once, one reply): an HTTP/2 stream on the open
 * connection, and no shared stream whose loss would fail unrelated calls.
 * Resolves as the gateway answers: `{result: LeaseKeepAliveResponse}`.
 */
export function keepAliveCall<T>(client: grpc.Client, m: Method, body: unknown, md: grpc.Metadata, deadline: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, md, {});
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      stop();
      return true;
    };
    const stop = afterDeadline(deadline, () => {
      if (!settle()) return;
      reject(deadlineExceeded(started));
      call.cancel();
    });
    call.on('data', (reply: unknown) => {
      if (settle()) resolve({ result: reply } as T);
    });
    call.on('error', (err: Error) => {
      if (settle()) reject(err);
    });
    call.on('status', (s: grpc.StatusObject) => {
      if (!settle()) return;
      reject(Object.assign(new Error(s.details || 'keep-alive stream ended without a reply'), { code: s.code === grpc.status.OK ? grpc.status.UNAVAILABLE : s.code, details: s.details }));
    });
    call.write(body);
    call.end();
  });
}

/**
 * A watch stream on `client`: writes `body` (the create request), hands each
 * reply to `onMessage` as the gateway wraps it (`{result: ...}`), and settles
 * when the stream ends (resolve), breaks (reject with the gRPC error) or
 * `signal` aborts (resolve). A throw of `onMessage` cancels the stream and rejects with it.
 */
export function watchCall(client: grpc.Client, m: Method, body: unknown, md: grpc.Metadata, onMessage: (msg: unknown) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, md, {});
    let settled = false;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', abort);
      if (err === undefined || signal.aborted) resolve();
      else reject(err);
    };
    const abort = (): void => {
      call.cancel();
      settle();
    };
    call.on('data', (reply: unknown) => {
      if (settled) return;
      try {
        onMessage({ result: reply });
      } catch (err) {
        settle(err);
        call.cancel();
      }
    });
    call.on('error', (err: Error) => settle(err));
    call.on('status', (s: grpc.StatusObject) => settle(s.code === grpc.status.OK ? undefined : Object.assign(new Error(s.details), { code: s.code, details: s.details })));
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    call.write(body);
  });
}
