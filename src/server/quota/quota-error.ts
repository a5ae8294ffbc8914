import { TetherError } from '../../lib/errors.js';

export type QuotaKind = 'tenants' | 'tenant_bytes' | 'db_full';

/**
 * A write refused by a quota. Codes: `quota.tenants` (a new tenant beyond
 * --max-tenants), `quota.tenant_bytes` (the tenant's values and messages
 * beyond --tenant-quota-bytes), `quota.db_full` (the database beyond
 * --max-db-bytes, or etcd's own NOSPACE alarm). The message names the limit,
 * never a value.
 */
export class QuotaError extends TetherError {
  constructor(
    readonly kind: QuotaKind,
    readonly limit: number,
    message: string,
  ) {
    super(`quota.${kind}`, message);
    this.name = 'QuotaError';
  }
}

export function isQuotaError(err: unknown): err is QuotaError {
  return err instanceof QuotaError;
}

export const quotaErrors = {
  tenants: (max: number) => new QuotaError('tenants', max, `The server holds its maximum of ${max} tenants; a new tenant cannot be created.`),
  tenantBytes: (max: number) =>
    new QuotaError('tenant_bytes', max, `The tenant's storage quota of ${max} bytes (configuration values and queue messages) would be exceeded.`),
  dbFull: (max: number | undefined) =>
    new QuotaError(
      'db_full',
      max ?? 0,
      `Database space exceeded${max !== undefined ? ` (quota ${max} bytes)` : ' (etcd NOSPACE alarm)'}: writes are refused; reads and deletes still work, so space can be freed.`,
    ),
};
