import type { ProbeSpec } from '../manifest/model.js';
import { runAttempt, type Verdict } from './attempt.js';
import { decodeHealthResponse, encodeHealthRequest, HEALTH_CHECK_METHOD, SERVING_STATUS } from './grpc-health.js';
import type { Probe } from './probe.js';

type GrpcSpec = Extract<ProbeSpec, { kind: 'grpc' }>;
type GrpcJs = typeof import('@grpc/grpc-js');

let grpcJs: Promise<GrpcJs> | undefined;

/** grpc-js is loaded at the first gRPC probe run: an agent without one (and the client library) never pays for it. */
function loadGrpcJs(): Promise<GrpcJs> {
  // A CommonJS package: Node's loader and the CLI bundle agree only on `default` (module.exports); the bundle has no named exports.
  grpcJs ??= import('@grpc/grpc-js').then((m) => (m as GrpcJs & { default?: GrpcJs }).default ?? m);
  return grpcJs;
}

/**
 * A gRPC health probe, as Kubernetes' grpc probe and Consul's GRPC check:
 * grpc.health.v1.Health/Check with the spec's service name; SERVING is
 * healthy, any other status (or NOT_FOUND for an unknown service, or a
 * connection error) is not. Each run opens its own channel and closes it
 * (like the TCP probe's connection): a probe of a restarted server never
 * waits on a stale connection's backoff.
 */
export function createGrpcProbe(spec: GrpcSpec, timeoutMs: number): Probe {
  const target = spec.host.includes(':') ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`;
  return { run: (signal) => runAttempt(signal, timeoutMs, async (s) => checkOnce(await loadGrpcJs(), target, spec, timeoutMs, s)) };
}

function checkOnce(grpc: GrpcJs, target: string, spec: GrpcSpec, timeoutMs: number, signal: AbortSignal): Promise<Verdict> {
  signal.throwIfAborted();
  const creds = spec.tls ? grpc.credentials.createSsl(null, null, null, spec.tlsSkipVerify ? { rejectUnauthorized: false } : {}) : grpc.credentials.createInsecure();
  const client = new grpc.Client(target, creds);
  const what = spec.service === '' ? target : `${target} service "${spec.service}"`;
  return new Promise<Verdict>((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = client.makeUnaryRequest(
      HEALTH_CHECK_METHOD,
      encodeHealthRequest,
      decodeHealthResponse,
      spec.service,
      new grpc.Metadata(),
      // The probe's own timeout also bounds the call on the server's side (grpc-timeout).
      { deadline: Date.now() + timeoutMs },
      (err, status) => {
        signal.removeEventListener('abort', onAbort);
        client.close();
        if (signal.aborted) return reject(signal.reason);
        if (err) {
          const name = grpc.status[err.code] ?? String(err.code);
          return resolve({ ok: false, output: `${what}: ${name}${err.details ? `: ${err.details}` : ''}` });
        }
        const label = SERVING_STATUS[status ?? 0] ?? `status ${String(status)}`;
        resolve({ ok: status === 1, output: `${what}: ${label}` });
      },
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
