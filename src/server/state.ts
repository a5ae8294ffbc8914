import type { Logger } from '../observability/logger.js';
import type { Registry } from '../registry/registry.js';
import type { AuthTable } from './auth.js';

/** What every request of one server shares. Mutable fields belong to the lifecycle in index.ts. */
export interface ServerState {
  readonly registry: Registry;
  readonly logger: Logger;
  /** Undefined: open server (no token check). */
  readonly auth: AuthTable | undefined;
  /** Hostname part of generated transaction ids. */
  readonly hostname: string;
  /** Counter part of generated transaction ids. */
  counter: number;
  /** Set by close(): new requests get 503, every reply carries `Connection: close`. */
  closing: boolean;
  /** Requests whose response has not emitted 'close' yet. */
  inflight: number;
  /** Abort controllers of running `GET /events` calls, aborted on close(). */
  readonly polls: Set<AbortController>;
  /** Called when `inflight` drops to 0 while closing. */
  onDrained: (() => void) | null;
}
