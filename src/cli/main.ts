#!/usr/bin/env node
/**
 * `tether`: the command line. Arguments are parsed with node:util parseArgs
 * rather than a CLI library: it is built in, maintained with Node itself, and
 * enough for flat options plus one level of sub-commands. Each command lives
 * in commands/ (argv -> options -> library call -> output); this file only
 * dispatches and is the one place where errors become exit codes (exit.ts).
 */
// First, so that the commands' modules load with Node's compile cache where Node has one.
import './compile-cache.js';
import { hoistGlobalOptions, UsageError } from './args.js';
import { exitCodeFor, formatError } from './exit.js';
import { packageVersion } from '../version.js';
import { COMMANDS, loadCommand } from './command-table.js';

/** The top-level help, from the command table's summaries (no command module is loaded for it). */
function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n]?.summary ?? ''}`);
  return `Usage: tether <command> [options]

Commands:
${lines.join('\n')}

Client commands take --url BASE (env TETHER_URL; BASE includes the tenant, e.g.
http://127.0.0.1:8470/v1.0/1234), --token TOKEN (env TETHER_TOKEN) and --json; for an
https:// server also --cacert FILE, --cert FILE, --key FILE, --server-name NAME (env
TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME).

Run 'tether <command> --help' for a command's options. 'tether --version' prints the version.
Exit codes: 0 ok, 1 error (a registry fault), 2 usage, 3 registry unreachable.
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = hoistGlobalOptions(argv);
  if (name === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = loadCommand(rest[0]);
    process.stdout.write(topic ? (await topic).help : usage());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = loadCommand(name);
  if (!command) throw new UsageError(`unknown command "${name}"`);
  return (await command).run(rest);
}

// `tether events | head`: a closed pipe ends the command quietly, as for other Unix tools.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// Exit codes are set, not forced: process.exit could cut off output still
// buffered for a pipe. Every command closes what it opened, so the process ends.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(formatError(err));
    if (process.env.TETHER_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = exitCodeFor(err);
  },
);
