import type { Command } from './args.js';

/**
 * Every `tether` command: the one-line summary `tether --help` prints, and
 * the loader of its module. Commands load on demand, so a client command
 * never pays for SQLite, the server or the manifest code, and the summaries
 * live here so that `tether --help` loads no command at all: loading them
 * all pulled the server, SQLite and the agent into memory for a page of text
 * (bench/README.md, "Session 10: what the RSS is made of").
 * test/cli/command-table.test.ts holds each summary equal to its command's.
 */
export interface CommandEntry {
  summary: string;
  load(): Promise<Command>;
}

const registry: CommandEntry['load'] = async () => (await import('./commands/registry.js')).registryCommand;
const serverSummary = 'run the server: Service Registry v1.0 and Cloud Queues v1 (SQLite or etcd)';

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  registry: { summary: serverSummary, load: registry },
  // The same server under the name that says it serves both APIs (registry and queues).
  server: { summary: serverSummary, load: registry },
  services: {
    summary: 'list, show, register, update, heartbeat and remove services',
    load: async () => (await import('./commands/services.js')).servicesCommand,
  },
  config: { summary: 'list, read, set and remove configuration values', load: async () => (await import('./commands/config.js')).configCommand },
  events: { summary: 'list or follow events', load: async () => (await import('./commands/events.js')).eventsCommand },
  limits: { summary: "show the tenant's resource and rate limits", load: async () => (await import('./commands/limits.js')).limitsCommand },
  sessions: { summary: 'list, create, show, heartbeat and delete sessions', load: async () => (await import('./commands/sessions.js')).sessionsCommand },
  queues: { summary: 'Cloud Queues: queues, messages and claims', load: async () => (await import('./commands/queues.js')).queuesCommand },
  routes: {
    summary: 'deliver registry events into queues (list, get, set, delete event routes)',
    load: async () => (await import('./commands/routes.js')).routesCommand,
  },
  agent: { summary: 'run the agent: probes, registration, heartbeats, local API', load: async () => (await import('./commands/agent.js')).agentCommand },
  dev: { summary: 'run a registry and the agent in one process', load: async () => (await import('./commands/dev.js')).devCommand },
  validate: { summary: 'check a manifest without starting anything', load: async () => (await import('./commands/validate.js')).validateCommand },
  render: {
    summary: 'render every file once from the registry and exit (init containers, CI)',
    load: async () => (await import('./commands/render.js')).renderCommand,
  },
  exec: {
    summary: "run an application as the agent's child: files and env from the registry, restart on change",
    load: async () => (await import('./commands/exec.js')).execCommand,
  },
  maint: {
    summary: "maintenance mode: take the agent's services (or one) out of discovery",
    load: async () => (await import('./commands/maint.js')).maintCommand,
  },
  status: { summary: "the agent's view: services, checks, registrations, files", load: async () => (await import('./commands/status.js')).statusCommand },
  completion: {
    summary: 'print a shell completion script (bash, zsh, fish)',
    load: async () => (await import('./commands/completion.js')).completionCommand(loadAll),
  },
};

/** Every command of the table, loaded (for `tether completion`); one that cannot be loaded is left out. */
export async function loadAll(): Promise<Array<[string, Command]>> {
  const names = Object.keys(COMMANDS);
  const loaded = await Promise.allSettled(names.map((n) => (COMMANDS[n] as CommandEntry).load()));
  return names.flatMap((n, i) => {
    const r = loaded[i];
    return r?.status === 'fulfilled' ? [[n, r.value] as [string, Command]] : [];
  });
}

/** The command's module, loaded; undefined for a name that is not a command. */
export function loadCommand(name: string | undefined): Promise<Command> | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? (COMMANDS[name] as CommandEntry).load() : undefined;
}
