import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TetherError } from '../lib/errors.js';

/**
 * The command line without the registry client: the Command shape, usage
 * errors, argument parsing and output. Apart from command.ts (whose client
 * helpers load the HTTP client) so that `tether` itself and `tether agent`
 * reach their own work first: the agent starts loading its manifest before
 * anything heavy.
 */
export interface Command {
  name: string;
  /** One line for `tether --help`. */
  summary: string;
  /** Full text for `tether <name> --help`. */
  help: string;
  /** Runs the command; resolves with the exit code (0 unless the command says otherwise). */
  run(argv: string[]): Promise<number>;
  /**
   * The parseArgs options of the command, or of each of its sub-commands: the
   * tables `run` parses with, so `tether completion` offers exactly what parses.
   */
  options?: OptionTable;
  subs?: Readonly<Record<string, OptionTable>>;
}

export type OptionTable = NonNullable<ParseArgsConfig['options']>;

/** A mistake in the command line: exit 2 with a hint to --help. */
export class UsageError extends TetherError {
  constructor(message: string, readonly command?: string) {
    super('cli.usage', message);
    this.name = 'UsageError';
  }
}

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

/**
 * Lets the client options come before the command (`tether --url U services list`)
 * by moving leading `--url V`, `--token V`, `--url=V`, `--json` (and the TLS flags) after it.
 */
const VALUED_GLOBALS = new Set(['--url', '--token', '--cacert', '--cert', '--key', '--server-name']);

export function hoistGlobalOptions(argv: string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i] as string;
    if (VALUED_GLOBALS.has(a)) {
      leading.push(a, ...argv.slice(i + 1, i + 2));
      i += 2;
    } else if (a === '--json' || VALUED_GLOBALS.has(a.split('=')[0] as string)) {
      leading.push(a);
      i += 1;
    } else break;
  }
  if (leading.length === 0 || i >= argv.length) return argv;
  const [name, ...rest] = argv.slice(i) as [string, ...string[]];
  return [name, ...rest, ...leading];
}
