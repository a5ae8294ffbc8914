import type { ParseArgsConfig } from 'node:util';
import { Client } from '../client/client.js';
import { TetherError } from '../lib/errors.js';
import { clientTlsFrom, clientTlsOptions, type ClientTlsValues } from './tls-flags.js';
import { hoistGlobalOptions, out, UsageError, type Command, type OptionTable } from './args.js';

export { hoistGlobalOptions, out, parse, positionals, UsageError, type Command, type OptionTable } from './args.js';

/**
 * What every command shares: the Command shape, usage errors and parsing
 * (from args.ts, re-exported), the client options (--url, --token, --json)
 * and output helpers. Commands stay thin:
 * argv -> options -> library call -> output; exit codes are decided in main.
 */

export const DEFAULT_URL = 'http://127.0.0.1:8470/v1.0/default';

export const clientOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  ...clientTlsOptions,
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** A Client from --url/--token (and TLS flags), falling back to TETHER_URL/TETHER_TOKEN (TETHER_CACERT...), then the local default. */
export function clientFrom(values: { url?: string | undefined; token?: string | undefined } & ClientTlsValues, env = process.env): Client {
  const url = values.url ?? env.TETHER_URL ?? DEFAULT_URL;
  const token = values.token ?? env.TETHER_TOKEN;
  try {
    return new Client({ url, token: token === '' ? undefined : token, tls: clientTlsFrom(values, env) });
  } catch (err) {
    if (err instanceof TetherError && err.code === 'client.invalidUrl') throw new UsageError(err.message);
    throw err;
  }
}

/** Runs `fn` with a Client and closes it afterwards (so the process can exit on its own). */
export async function withClient<T>(values: { url?: string | undefined; token?: string | undefined } & ClientTlsValues, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = clientFrom(values);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** One JSON document, pretty-printed. */
export function outJson(value: unknown): void {
  out(`${JSON.stringify(value, null, 2)}\n`);
}

/** `k=v,k=v` for metadata cells. */
export function kv(m: Record<string, string>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** ISO time for a ms timestamp, or `-`. */
export function time(ms: number | null | undefined): string {
  return typeof ms === 'number' ? new Date(ms).toISOString() : '-';
}

/** Dispatches `<group> <sub> ...` to the sub-command's handler. */
export async function runSub(
  group: string,
  argv: string[],
  subs: Record<string, (argv: string[]) => Promise<number>>,
  help: string,
): Promise<number> {
  const [sub, ...rest] = hoistGlobalOptions(argv);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    if (sub === undefined) throw new UsageError(`missing sub-command: ${Object.keys(subs).join(', ')}`, group);
    out(help);
    return 0;
  }
  const handler = Object.hasOwn(subs, sub) ? subs[sub] : undefined;
  if (!handler) throw new UsageError(`unknown sub-command "${sub}"`, group);
  return handler(rest);
}

/** One sub-command: the options it parses (also what completion offers) and its handler. */
export interface Sub {
  options: OptionTable;
  run(argv: string[]): Promise<number>;
}

/** A `<group> <sub> ...` command from one table of sub-commands (dispatch and completion from the same entries). */
export function groupCommand(name: string, summary: string, help: string, table: Record<string, Sub>): Command {
  const entries = Object.entries(table);
  return {
    name,
    summary,
    help,
    subs: Object.fromEntries(entries.map(([k, s]) => [k, s.options])),
    run: (argv) => runSub(name, argv, Object.fromEntries(entries.map(([k, s]) => [k, s.run])), help),
  };
}
