import { hasCode } from '../lib/errors.js';
import { GroupCommit, type BatchItem } from './etcd-batch.js';
import type { EtcdTransport } from './etcd-transport.js';
import type { Entry, TxnResult } from './store.js';

export interface Header {
  revision?: string;
}
export interface Kv {
  key: string;
  value?: string;
  mod_revision?: string;
  lease?: string;
}
export interface RangeReply {
  header?: Header;
  kvs?: Kv[];
  count?: string;
}
interface TxnReply {
  header?: Header;
  succeeded?: boolean;
  responses?: Array<{ response_range?: RangeReply; response_txn?: { succeeded?: boolean } }>;
}

/** A txn in etcd's JSON terms: keys already prefixed and base64. */
export interface EtcdTxn {
  compare: Array<{ key: string }>;
  success: unknown[];
}

/**
 * Most requests out at once, per kind. Past the first, one goes only with half
 * a batch waiting (etcd-batch.ts): on `heartbeats --store etcd` two out at any
 * time made batches smaller and cost more CPU a heartbeat (bench/README.md).
 */
const WRITES_IN_FLIGHT = 8;
const READS_IN_FLIGHT = 8;
/**
 * Payload one merged txn carries at most. etcd refuses a request over
 * `--max-request-bytes` (1.5 MiB by default) and past ~2 MiB does not even
 * answer (the gRPC message cap): callers keep each txn under 1,000,000 bytes
 * (routes/runner.ts, queues/posting.ts), and a merge of two such must not
 * cross the limit. A single larger txn still goes, alone.
 */
export const MAX_BATCH_BYTES = 1024 * 1024;
/**
 * How long a write marked `coalesce` (heartbeats) waits for others to join
 * its batch, under load only (etcd-batch.ts, Linger); a full batch or any
 * other write ends the wait sooner.
 */
export const WRITE_LINGER_MS = 2;

interface WriteItem extends BatchItem {
  txn: EtcdTxn;
  resolve(r: TxnResult): void;
}

interface ReadItem extends BatchItem {
  /** Full (prefixed, base64) keys, read in this order. */
  want: readonly string[];
  resolve(kvs: Array<Kv | undefined>): void;
}

/**
 * The etcd store's point reads and transactions, coalesced (etcd-batch.ts):
 * - Concurrent txns on disjoint keys go as one flat etcd txn (every caller's
 *   compares, then every caller's ops) and, only when one of its compares
 *   fails, again as one txn whose success ops are the callers' txns, nested
 *   (etcd >= 3.3): each keeps its own compares and gets its own `succeeded`,
 *   all at one revision, up to MAX_BATCH_BYTES of
 *   keys and values. A merged request etcd refuses (one call's lease expired,
 *   a permission, too large for its --max-request-bytes) applied nothing, so each
 *   call is then sent alone and gets its own answer; a transport failure or
 *   timeout fails every call in it, as it would fail a call sent alone
 *   (never resent: etcd may have applied it).
 * - Concurrent get/getMany calls go as one read-only txn of ranges: one
 *   consistent read at one revision.
 * A lone call is sent exactly as before batching existed.
 */
export class EtcdBatchedKv {
  private readonly writes: GroupCommit<WriteItem>;
  private readonly reads: GroupCommit<ReadItem>;

  constructor(
    private readonly gw: EtcdTransport,
    maxTxnOps: number,
  ) {
    this.writes = new GroupCommit<WriteItem>({ maxInFlight: WRITES_IN_FLIGHT, maxWeight: maxTxnOps, maxBytes: MAX_BATCH_BYTES, lingerMs: WRITE_LINGER_MS, send: (b) => this.sendWrites(b) });
    this.reads = new GroupCommit<ReadItem>({ maxInFlight: READS_IN_FLIGHT, maxWeight: maxTxnOps, send: (b) => this.sendReads(b) });
  }

  /**
   * `keys`: every key the txn reads or writes, or null when it writes a range (it then goes alone).
   * `linger`: it may wait up to WRITE_LINGER_MS, under load, for company.
   */
  txn(txn: EtcdTxn, keys: readonly string[] | null, linger = false): Promise<TxnResult> {
    return new Promise((resolve, reject) => {
      // Nested, a txn costs etcd one op of the outer txn plus its own largest list.
      const weight = 1 + Math.max(txn.compare.length, txn.success.length);
      this.writes.add({ keys, weight, bytes: payloadBytes(txn), linger, txn, resolve, reject });
    });
  }

  /** The entries of `want` (full keys), in order, at one revision. */
  read(want: readonly string[]): Promise<Array<Kv | undefined>> {
    return new Promise((resolve, reject) => this.reads.add({ keys: [], weight: want.length, want, resolve, reject }));
  }

  close(): void {
    this.writes.close();
    this.reads.close();
  }

  private async sendWrites(items: WriteItem[]): Promise<void> {
    if (items.length === 1) return settle(items[0]!, () => this.txnAlone(items[0]!.txn));
    try {
      // Flat first: etcd's gateway decodes one txn of every compare and op for less CPU per call than
      // nested txns (bench/README.md, "Flat batches"). Calls in a batch share no key, so
      // it holds what each nested txn would; when any compare fails nothing applied, and the
      // calls go again nested, each with its own answer.
      const flat = await this.gw.call<TxnReply>('/v3/kv/txn', { compare: items.flatMap((i) => i.txn.compare), success: items.flatMap((i) => i.txn.success) }, false);
      if (flat.succeeded === true) {
        const revision = rev(flat.header);
        for (const item of items) item.resolve({ succeeded: true, revision });
        return;
      }
      const r = await this.gw.call<TxnReply>('/v3/kv/txn', { success: items.map((i) => ({ request_txn: i.txn })) }, false);
      const revision = rev(r.header);
      items.forEach((item, i) => item.resolve({ succeeded: r.responses?.[i]?.response_txn?.succeeded === true, revision }));
    } catch (err) {
      if (!refusedWhole(err)) return failAll(items, err);
      await Promise.all(items.map((i) => settle(i, () => this.txnAlone(i.txn))));
    }
  }

  private async txnAlone(txn: EtcdTxn): Promise<TxnResult> {
    const r = await this.gw.call<TxnReply>('/v3/kv/txn', txn, false);
    return { succeeded: r.succeeded === true, revision: rev(r.header) };
  }

  private async sendReads(items: ReadItem[]): Promise<void> {
    if (items.length === 1) return settle(items[0]!, () => this.readAlone(items[0]!.want));
    const all = items.flatMap((i) => i.want);
    let kvs: Array<Kv | undefined>;
    try {
      kvs = await this.readAlone(all);
    } catch (err) {
      if (!refusedWhole(err)) return failAll(items, err);
      await Promise.all(items.map((i) => settle(i, () => this.readAlone(i.want))));
      return;
    }
    let at = 0;
    for (const item of items) {
      item.resolve(kvs.slice(at, at + item.want.length));
      at += item.want.length;
    }
  }

  /** One key: a range; several: a read-only txn of ranges (one revision). */
  private async readAlone(want: readonly string[]): Promise<Array<Kv | undefined>> {
    if (want.length === 1) {
      const r = await this.gw.call<RangeReply>('/v3/kv/range', { key: want[0] }, true);
      return [r.kvs?.[0]];
    }
    const r = await this.gw.call<TxnReply>('/v3/kv/txn', { success: want.map((key) => ({ request_range: { key } })) }, true);
    return want.map((_, i) => r.responses?.[i]?.response_range?.kvs?.[0]);
  }
}

/** Bytes of the txn's keys and values as etcd gets them (the JSON carries them base64: 4 characters for 3 bytes). */
function payloadBytes(txn: EtcdTxn): number {
  let chars = 0;
  for (const c of txn.compare) chars += c.key.length;
  for (const op of txn.success as Array<{ request_put?: { key: string; value: string }; request_delete_range?: { key: string; range_end?: string } }>) {
    if (op.request_put) chars += op.request_put.key.length + op.request_put.value.length;
    else if (op.request_delete_range) chars += op.request_delete_range.key.length + (op.request_delete_range.range_end?.length ?? 0);
  }
  return Math.ceil((chars * 3) / 4);
}

/**
 * etcd answered and refused the request as a whole (it applied nothing): a
 * lease one call names has expired, a permission one call lacks, a limit.
 * Not a timeout or a lost connection: those may have been applied.
 */
function refusedWhole(err: unknown): boolean {
  if (hasCode(err, 'store.lease_not_found')) return true;
  return hasCode(err, 'store.failed') && /permission denied|too many operations|duplicate key|request is too large|larger than max/.test((err as Error).message);
}

async function settle<T>(item: { resolve(v: T): void; reject(err: unknown): void }, fn: () => Promise<T>): Promise<void> {
  try {
    item.resolve(await fn());
  } catch (err) {
    item.reject(err);
  }
}

function failAll(items: readonly BatchItem[], err: unknown): void {
  for (const item of items) item.reject(err);
}

export function rev(h: Header | undefined): number {
  return Number(h?.revision ?? 0);
}

export function entryOf(kv: Kv, root: string): Entry {
  return {
    key: Buffer.from(kv.key, 'base64').toString('utf8').slice(root.length),
    value: kv.value === undefined ? '' : Buffer.from(kv.value, 'base64').toString('utf8'),
    modRevision: Number(kv.mod_revision ?? 0),
    lease: Number(kv.lease ?? 0),
  };
}
