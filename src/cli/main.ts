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
import { hoistGlobalOptions, UsageError, type Command } from './args.js';
import { exitCodeFor, formatError } from './exit.js';
import { packageVersion } from '../version.js';

/**
 * Commands load on demand, so a client command never pays for SQLite, the
 * server or the manifest code (startup time is most of a CLI call).
 */
const commands: Readonly<Record<string, () => Promise<Command>>> = {
  registry: async () => (await import('./commands/registry.js')).registryCommand,
  // The same server under the name that says it serves both APIs (registry and queues).
  server: async () => (await import('./commands/registry.js')).registryCommand,
  services: async () => (await import('./commands/services.js')).servicesCommand,
  config: async () => (await import('./commands/config.js')).configCommand,
  events: async () => (await import('./commands/events.js')).eventsCommand,
  limits: async () => (await import('./commands/limits.js')).limitsCommand,
  sessions: async () => (await import('./commands/sessions.js')).sessionsCommand,
  queues: async () => (await import('./commands/queues.js')).queuesCommand,
  routes: async () => (await import('./commands/routes.js')).routesCommand,
  agent: async () => (await import('./commands/agent.js')).agentCommand,
  dev: async () => (await import('./commands/dev.js')).devCommand,
  validate: async () => (await import('./commands/validate.js')).validateCommand,
  render: async () => (await import('./commands/render.js')).renderCommand,
  exec: async () => (await import('./commands/exec.js')).execCommand,
  maint: async () => (await import('./commands/maint.js')).maintCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  completion: async () => (await import('./commands/completion.js')).completionCommand(loadAll),
};

/** Every command of the table, loaded (for `tether completion`); one that cannot be loaded is left out. */
async function loadAll(): Promise<Array<[string, Command]>> {
  const names = Object.keys(commands);
  const loaded = await Promise.allSettled(names.map((n) => load(n) as Promise<Command>));
  return names.flatMap((n, i) => {
    const r = loaded[i];
    return r?.status === 'fulfilled' ? [[n, r.value] as [string, Command]] : [];
  });
}

function load(name: string | undefined): Promise<Command> | undefined {
  return name !== undefined && Object.hasOwn(commands, name) ? (commands[name] as () => Promise<Command>)() : undefined;
}

/** The top-level help; loads every command for its summary (only `tether --help` pays for that). */
async function usage(): Promise<string> {
  const names = Object.keys(commands);
  // One broken command module must not take the help of the others down with it.
  const loaded = await Promise.allSettled(names.map((n) => load(n) as Promise<Command>));
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n, i) => {
    const r = loaded[i];
    return `  ${n.padEnd(width)}  ${r?.status === 'fulfilled' ? r.value.summary : '(cannot be loaded)'}`;
  });
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
    process.stderr.write(await usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = load(rest[0]);
    process.stdout.write(topic ? (await topic).help : await usage());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const command = load(name);
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
