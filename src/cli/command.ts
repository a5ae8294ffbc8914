import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Client } from '../client/client.js';
import { TetherError } from '../errors.js';

/**
 * What every command shares: the Command shape, usage errors, the client
 * options (--url, --token, --json) and output helpers. Commands stay thin:
 * argv -> options -> library call -> output; exit codes are decided in main.
 */

export interface Command {
  name: string;
  /** One line for `tether --help`. */
  summary: string;
  /** Full text for `tether <name> --help`. */
  help: string;
  /** Runs the command; resolves with the exit code (0 unless the command says otherwise). */
  run(argv: string[]): Promise<number>;
}

/** A mistake in the command line: exit 2 with a hint to --help. */
export class UsageError extends TetherError {
  constructor(message: string, readonly command?: string) {
    super('cli.usage', message);
    this.name = 'UsageError';
  }
}

export const DEFAULT_URL = 'http://127.0.0.1:8470/v1.0/default';

export const clientOptions = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** `parseArgs` in strict mode with positionals; its errors become UsageErrors of `command`. */
type Parsed<O extends NonNullable<ParseArgsConfig['options']>> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>
>;

export function parse<O extends NonNullable<ParseArgsConfig['options']>>(command: string, argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err), command);
  }
}

/** A Client from --url/--token, falling back to TETHER_URL/TETHER_TOKEN, then the local default. */
export function clientFrom(values: { url?: string | undefined; token?: string | undefined }, env = process.env): Client {
  const url = values.url ?? env.TETHER_URL ?? DEFAULT_URL;
  const token = values.token ?? env.TETHER_TOKEN;
  try {
    return new Client({ url, token: token === '' ? undefined : token });
  } catch (err) {
    if (err instanceof TetherError && err.code === 'client.invalidUrl') throw new UsageError(err.message);
    throw err;
  }
}

/** Runs `fn` with a Client and closes it afterwards (so the process can exit on its own). */
export async function withClient<T>(values: { url?: string | undefined; token?: string | undefined }, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = clientFrom(values);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Exactly `n` positionals named `names` (for messages), else a UsageError. */
export function positionals(command: string, got: string[], names: string[], optional = 0): string[] {
  if (got.length > names.length || got.length < names.length - optional) {
    throw new UsageError(`expected ${names.join(' ')}${got.length > names.length ? `, got extra "${got[names.length]}"` : ''}`, command);
  }
  return got;
}

export function out(text: string): void {
  process.stdout.write(text);
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

/**
 * Lets the client options come before the command (`tether --url U services list`)
 * by moving leading `--url V`, `--token V`, `--url=V`, `--json` after it.
 */
export function hoistGlobalOptions(argv: string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i] as string;
    if (a === '--url' || a === '--token') {
      leading.push(a, ...argv.slice(i + 1, i + 2));
      i += 2;
    } else if (a === '--json' || a.startsWith('--url=') || a.startsWith('--token=')) {
      leading.push(a);
      i += 1;
    } else break;
  }
  if (leading.length === 0 || i >= argv.length) return argv;
  const [name, ...rest] = argv.slice(i) as [string, ...string[]];
  return [name, ...rest, ...leading];
}
