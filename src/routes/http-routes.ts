import { faultFromReply } from '../client/wire-fault.js';
import { parseTenantUrl, tenantPath, type ApiRoot } from '../client/paths.js';
import { TetherError } from '../lib/errors.js';
import { HttpPool, readText, type TlsOptions } from '../lib/http-pool.js';
import type { EventRouteStatus } from './types.js';

const TIMEOUT_MS = 10_000;

/**
 * A client of the event-routes extension (`/v1.0/{tenant}/event-routes`) for
 * one tenant URL (`http://host:port/v1.0/{tenant}`, the CLI's --url).
 * Faults come back as RegistryFault, as from HttpRegistry.
 */
export class HttpEventRoutes {
  private readonly root: ApiRoot;
  private readonly tenant: string;
  private readonly pool: HttpPool;
  private readonly token: string | undefined;

  constructor(opts: { url: string; token?: string | undefined; tls?: TlsOptions | undefined }) {
    const { root, tenant } = parseTenantUrl(opts.url);
    this.root = root;
    this.tenant = tenant;
    this.pool = new HttpPool(root.origin, opts.tls);
    this.token = opts.token;
  }

  async list(): Promise<EventRouteStatus[]> {
    return ((await this.call('GET', '')) as { values: EventRouteStatus[] }).values;
  }

  async get(id: string): Promise<EventRouteStatus> {
    return (await this.call('GET', `/${encodeURIComponent(id)}`)) as EventRouteStatus;
  }

  /** True when created. */
  async set(id: string, body: unknown): Promise<boolean> {
    return (await this.call('PUT', `/${encodeURIComponent(id)}`, body)) !== undefined;
  }

  async delete(id: string): Promise<void> {
    await this.call('DELETE', `/${encodeURIComponent(id)}`);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** The parsed body of a 2xx (undefined for 204); faults reject. */
  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.token !== undefined) headers['x-auth-token'] = this.token;
    const res = await this.pool
      .request({
        path: `${tenantPath(this.root, this.tenant)}/event-routes${path}`,
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
        retryOnReset: method === 'GET',
      })
      .catch((err: unknown) => {
        // Never the token: only the origin and the socket's code.
        const code = (err as { code?: unknown } | null)?.code;
        throw new TetherError('client.unreachable', `cannot reach ${this.root.origin}${typeof code === 'string' ? ` (${code})` : ''}`);
      });
    const text = await readText(res.body);
    const id = res.headers['x-response-id'];
    if (res.statusCode < 200 || res.statusCode >= 300) throw faultFromReply(res.statusCode, text, typeof id === 'string' ? id : undefined);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  }
}
