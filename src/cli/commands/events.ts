import { EventsFollower } from '../../client/events-follower.js';
import { RegistryFault } from '../../registry/faults.js';
import { EVENT_TYPES, type EventType, type RegistryEvent } from '../../registry/types.js';
import { clientFrom, clientOptions, out, outJson, parse, positionals, time, UsageError, type Command } from '../command.js';
import { cleanCell, formatTable } from '../table.js';

const help = `Usage: tether events [--marker ID] [--type TYPE] [--follow] [options]

Lists the tenant's events: from --marker (inclusive) or, without it, the last hour.
With --follow, keeps printing events as they happen (long-poll) until Ctrl-C.

Options:
  --marker ID    start at this event id (a v1 time UUID)
  --type TYPE    only ${EVENT_TYPES.join(', ')}
  --follow, -f   wait for new events
  --url BASE     tenant URL (env TETHER_URL, default http://127.0.0.1:8470/v1.0/default)
  --token TOKEN  X-Auth-Token (env TETHER_TOKEN)
  --cacert FILE, --cert FILE, --key FILE, --server-name NAME
                 TLS to an https:// server (env TETHER_CACERT, TETHER_CERT, TETHER_KEY, TETHER_SERVER_NAME)
  --json         print JSON (with --follow: one JSON line per event)
`;

const options = {
  ...clientOptions,
  marker: { type: 'string' },
  type: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
} as const;

export const eventsCommand: Command = {
  name: 'events',
  summary: 'list or follow events',
  help,
  options,
  async run(argv) {
    const { values, positionals: pos } = parse('events', argv, options);
    if (values.help) return (out(help), 0);
    positionals('events', pos, []);
    const type = values.type;
    if (type !== undefined && !(EVENT_TYPES as readonly string[]).includes(type)) {
      throw new UsageError(`unknown event type "${type}"; one of ${EVENT_TYPES.join(', ')}`, 'events');
    }
    const opts = { url: values.url, token: values.token, json: values.json === true, marker: values.marker, type: type as EventType | undefined };
    return values.follow ? follow(opts) : list(opts);
  },
};

interface EventsOptions {
  url: string | undefined;
  token: string | undefined;
  json: boolean;
  marker: string | undefined;
  type: EventType | undefined;
}

async function list(o: EventsOptions): Promise<number> {
  const client = clientFrom(o);
  try {
    const events = await client.events.listAll({ marker: o.marker, type: o.type });
    if (o.json) outJson(events);
    else out(formatTable(['ID', 'TIME', 'TYPE', 'SUBJECT', 'DETAIL'], events.map(eventRow)));
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * Follows until SIGINT/SIGTERM (exit 0). An unreachable registry is retried
 * with a warning; a 4xx fault (bad token, bad marker format) ends the command.
 */
async function follow(o: EventsOptions): Promise<number> {
  const client = clientFrom(o);
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let fatal: unknown;
  const follower = new EventsFollower({
    registry: client.registry,
    tenant: client.tenant,
    marker: o.marker ?? null,
    type: o.type,
    onEvents: (events) => {
      for (const e of events) out(o.json ? `${JSON.stringify(e)}\n` : `${followLine(e)}\n`);
    },
    onReset: () => {
      process.stderr.write('warning: the registry rejected the marker; following from the last hour\n');
    },
    onError: (err) => {
      if (err instanceof RegistryFault && err.status < 500) {
        fatal = err;
        ac.abort();
        return;
      }
      process.stderr.write(`warning: ${err instanceof Error ? err.message : String(err)} (retrying)\n`);
    },
  });
  try {
    await follower.start(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close();
  }
  if (fatal !== undefined) throw fatal;
  return 0;
}

function eventRow(e: RegistryEvent): string[] {
  return [e.id, time(e.timestamp), e.type, subject(e), detail(e)];
}

/** A streamed line: id and time have fixed widths and the type is padded, so lines align without a table. */
function followLine(e: RegistryEvent): string {
  const [id, at, type, subj, det] = eventRow(e).map(cleanCell) as [string, string, string, string, string];
  return `${id}  ${at}  ${type.padEnd(26)}  ${subj}  ${det}`.trimEnd();
}

function subject(e: RegistryEvent): string {
  if (e.type === 'configuration_value.update' || e.type === 'configuration_value.remove') return e.payload.configuration_value_id;
  return e.payload.id;
}

function detail(e: RegistryEvent): string {
  // A key under a secret prefix: the server sent no value, and the line says why it shows none.
  if ((e.type === 'configuration_value.update' || e.type === 'configuration_value.remove') && e.payload.secret === true) return '(secret: value not shown)';
  switch (e.type) {
    case 'configuration_value.update':
      return `${JSON.stringify(e.payload.old_value)} -> ${JSON.stringify(e.payload.new_value)}`;
    case 'configuration_value.remove':
      return `was ${JSON.stringify(e.payload.old_value)}`;
    default:
      return `timeout=${e.payload.heartbeat_timeout}s tags=${e.payload.tags.join(',')}`;
  }
}
