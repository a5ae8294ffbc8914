import type { Logger } from 'pino';
import { TetherError } from '../../lib/errors.js';
import type { Store } from '../../store/store.js';
import { QuotaStore, type QuotaOptions } from './quota-store.js';

export interface QuotaFlags {
  maxTenants?: number | undefined;
  tenantQuotaBytes?: number | undefined;
  maxDbBytes?: number | undefined;
}

/** A store engine that can say how big its database is (SQLite and etcd both can). */
interface Sized {
  dbBytesInUse(): number | Promise<number>;
}

function sized(store: Store): Sized | undefined {
  return typeof (store as Partial<Sized>).dbBytesInUse === 'function' ? (store as unknown as Sized) : undefined;
}

/**
 * Wraps `store` in the quotas of `flags`; `engine` (the store under any
 * wrapper, default `store`) reports the database size. Always wraps: the
 * tenant count is useful without any quota set, and etcd's NOSPACE alarm maps
 * to its clear fault either way.
 */
export async function openQuotaStore(store: Store, flags: QuotaFlags, logger?: Logger, sizeOf: Store = store): Promise<QuotaStore> {
  const engine = sized(sizeOf);
  if (flags.maxDbBytes !== undefined && engine === undefined) {
    throw new TetherError('quota.config', '--max-db-bytes needs a store that reports its size (sqlite or etcd)');
  }
  const opts: QuotaOptions = {
    ...flags,
    ...(engine !== undefined ? { dbSize: async () => engine.dbBytesInUse() } : {}),
    ...(logger !== undefined ? { logger } : {}),
  };
  return QuotaStore.open(store, opts);
}

const UNITS: Record<string, number> = { '': 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** `65536`, `64K`, `10MB`, `2GiB` (binary units) -> bytes; undefined passes through; anything else throws `quota.invalid`. */
export function parseBytes(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,15})\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) === 0) {
    throw new TetherError('quota.invalid', `--${flag} must be a positive size in bytes (65536, 64K, 10MB, 2GiB), got "${text}"`);
  }
  return Number(m[1]) * unit;
}
