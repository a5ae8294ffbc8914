import { connect } from 'node:net';
import type { ProbeSpec } from '../manifest/model.js';
import { runAttempt, type Verdict } from './attempt.js';
import type { Probe } from './probe.js';

type TcpSpec = Extract<ProbeSpec, { kind: 'tcp' }>;

/** A TCP probe: healthy when a connection to host:port is established (then closed at once). */
export function createTcpProbe(spec: TcpSpec, timeoutMs: number): Probe {
  return { run: (signal) => runAttempt(signal, timeoutMs, (s) => connectOnce(spec.host, spec.port, s)) };
}

/**
 * Connects and closes. Resolves ok:true on connect; rejects with the socket
 * error (e.g. "connect ECONNREFUSED 127.0.0.1:9") or, on abort, with the
 * signal's reason after destroying the socket.
 */
function connectOnce(host: string, port: number, signal: AbortSignal): Promise<Verdict> {
  signal.throwIfAborted();
  return new Promise<Verdict>((resolve, reject) => {
    const socket = connect({ host, port });
    const settle = (fn: () => void): void => {
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('connect');
      // A late error on a socket we are done with must not become an uncaught 'error'.
      socket.removeAllListeners('error').on('error', () => {});
      socket.destroy();
      fn();
    };
    const onAbort = (): void => settle(() => reject(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => settle(() => resolve({ ok: true, output: `connected to ${host}:${port}` })));
    socket.once('error', (err) => settle(() => reject(err)));
  });
}
