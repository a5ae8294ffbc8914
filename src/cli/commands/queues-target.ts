import { HttpQueues } from '../../client/queues.js';
import { TetherError } from '../../lib/errors.js';
import type { Project } from '../../queues/types.js';
import { DEFAULT_URL, UsageError } from '../command.js';
import { clientTlsFrom, clientTlsOptions, type ClientTlsValues } from '../tls-flags.js';

/**
 * The connection of `tether queues`: the same --url/--token as the registry
 * commands, where the tenant is the project (a tenant's token is valid for
 * the project of the same id). --project overrides it; --global uses the
 * project-less namespace.
 */
export const queuesClientOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  ...clientTlsOptions,
  project: { type: 'string' },
  global: { type: 'boolean' },
  'client-id': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface QueuesConnection extends ClientTlsValues {
  url?: string | undefined;
  token?: string | undefined;
  project?: string | undefined;
  global?: boolean | undefined;
  'client-id'?: string | undefined;
}

export interface QueuesTarget {
  /** Server root: origin plus any mount, without /v1.0 or /v1. */
  root: string;
  project: Project;
}

/**
 * Splits a URL into the server root and project: `.../v1.0/<tenant>` (the
 * registry commands' form) and `.../v1/<project>` give their last segment; a
 * bare root or `.../v1` gives none (then --project, else the global namespace).
 */
export function queuesTarget(url: string, project?: string, global = false): QueuesTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError('--url is not a valid absolute URL', 'queues');
  }
  const segs = u.pathname.split('/').filter((s) => s !== '');
  let fromUrl: string | undefined;
  const at = segs.length - 2;
  if (at >= 0 && (segs[at] === 'v1.0' || segs[at] === 'v1')) {
    fromUrl = decodeURIComponent(segs[at + 1] as string);
    segs.splice(at);
  } else if (segs[segs.length - 1] === 'v1.0' || segs[segs.length - 1] === 'v1') segs.pop();
  const root = `${u.origin}${segs.map((s) => `/${s}`).join('')}`;
  if (global && project !== undefined) throw new UsageError('--global and --project exclude each other', 'queues');
  return { root, project: global ? null : (project ?? fromUrl ?? null) };
}

/** Runs `fn` with an HttpQueues for the target of `values` (flags, then TETHER_URL/TETHER_TOKEN), closing it afterwards. */
export async function withQueues<T>(
  values: QueuesConnection,
  fn: (q: HttpQueues, project: Project) => Promise<T>,
  env = process.env,
): Promise<T> {
  const target = queuesTarget(values.url ?? env.TETHER_URL ?? DEFAULT_URL, values.project, values.global === true);
  const token = values.token ?? env.TETHER_TOKEN;
  let queues: HttpQueues;
  try {
    queues = new HttpQueues({ url: target.root, token: token === '' ? undefined : token, clientId: values['client-id'], tls: clientTlsFrom(values, env, 'queues') });
  } catch (err) {
    if (err instanceof TetherError && err.code === 'client.invalidUrl') throw new UsageError(err.message, 'queues');
    throw err;
  }
  try {
    return await fn(queues, target.project);
  } finally {
    await queues.close();
  }
}

/** A whole number option in `min..max`, or undefined when absent; else a UsageError. */
export function intOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number in ${min}..${max}`, 'queues');
  return n;
}

/** Parses one JSON document given on the command line or stdin; `where` names it in the usage error. */
export function jsonArg(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${where} is not JSON: ${text.length > 60 ? `${text.slice(0, 60)}...` : text}`, 'queues');
  }
}
