import { Counter, Gauge, type Registry as PromRegistry } from 'prom-client';
import type { QuotaView } from './quota-store.js';
import { tenantOfNs } from './tenant-keys.js';

/** Tenants shown one by one: a fleet of thousands would otherwise be thousands of series. */
export const TOP_TENANTS = 10;

/**
 * The quota gauges, read from the quota store at each scrape. Per-tenant
 * usage is high-cardinality, so only the `TOP_TENANTS` largest tenants get a
 * series of their own; the sum, the count of tenants at 80 % or more of the
 * quota, and the count over it cover everyone.
 */
export function registerQuotaMetrics(register: PromRegistry, view: QuotaView): void {
  const registers = [register];
  const { opts, ledger } = view;
  new Gauge({
    name: 'tether_tenants',
    help: 'Tenants the server holds (registry accounts, queue projects, event routes).',
    registers,
    collect() {
      this.set(ledger.tenantCount());
    },
  });
  new Gauge({
    name: 'tether_quota_limit',
    help: 'The configured quotas: tenants (--max-tenants), tenant_bytes (--tenant-quota-bytes), db_bytes (--max-db-bytes); absent when unset.',
    labelNames: ['quota'],
    registers,
  });
  const limits = register.getSingleMetric('tether_quota_limit') as Gauge<'quota'>;
  if (opts.maxTenants !== undefined) limits.set({ quota: 'tenants' }, opts.maxTenants);
  if (opts.tenantQuotaBytes !== undefined) limits.set({ quota: 'tenant_bytes' }, opts.tenantQuotaBytes);
  if (opts.maxDbBytes !== undefined) limits.set({ quota: 'db_bytes' }, opts.maxDbBytes);
  new Gauge({
    name: 'tether_db_bytes',
    help: 'Bytes the database uses (SQLite pages in use; etcd dbSizeInUse), read every second.',
    registers,
    collect() {
      const bytes = view.dbBytes();
      if (bytes !== undefined) this.set(bytes);
    },
  });
  new Gauge({
    name: 'tether_tenant_storage_bytes',
    help: `Bytes of configuration values, queue messages and queue metadata of the ${TOP_TENANTS} largest tenants ("" = queues without a project); counted only with --tenant-quota-bytes.`,
    labelNames: ['tenant'],
    registers,
    collect() {
      this.reset();
      if (!ledger.counting) return;
      const top = [...ledger.allUsage()].sort((a, b) => b[1] - a[1]).slice(0, TOP_TENANTS);
      for (const [ns, bytes] of top) this.set({ tenant: tenantOfNs(ns) }, bytes);
    },
  });
  new Gauge({
    name: 'tether_tenant_storage_bytes_sum',
    help: 'Bytes of configuration values, queue messages and queue metadata of every tenant together; counted only with --tenant-quota-bytes.',
    registers,
    collect() {
      if (!ledger.counting) return;
      let sum = 0;
      for (const [, bytes] of ledger.allUsage()) sum += bytes;
      this.set(sum);
    },
  });
  new Gauge({
    name: 'tether_tenants_near_quota',
    help: 'Tenants at or above a share of --tenant-quota-bytes: share="0.8" and share="1".',
    labelNames: ['share'],
    registers,
    collect() {
      const quota = opts.tenantQuotaBytes;
      if (quota === undefined) return;
      let near = 0;
      let full = 0;
      for (const [, bytes] of ledger.allUsage()) {
        if (bytes >= quota * 0.8) near++;
        if (bytes >= quota) full++;
      }
      this.set({ share: '0.8' }, near);
      this.set({ share: '1' }, full);
    },
  });
  new Counter({
    name: 'tether_quota_refusals_total',
    help: 'Writes refused by a quota since start, by quota (tenants, tenant_bytes, db_full).',
    labelNames: ['quota'],
    registers,
    collect() {
      // The store counts; the counter mirrors it at each scrape.
      this.reset();
      for (const [quota, n] of Object.entries(view.refusals())) this.inc({ quota }, n);
    },
  });
}
