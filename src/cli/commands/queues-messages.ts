import { readFileSync } from 'node:fs';
import type { Message } from '../../queues/types.js';
import { out, outJson, parse, positionals, UsageError } from '../command.js';
import { formatTable } from '../table.js';
import { followQueue } from './queues-follow.js';
import { queuesHelp } from './queues-help.js';
import { intOption, jsonArg, queuesClientOptions, withQueues, type QueuesConnection } from './queues-target.js';

/** `tether queues` sub-commands on messages and claims (the queue-level ones are in queues.ts). */

// A post request is capped at 256 KiB by default (spec 3); batches stay well under it.
const BATCH_MESSAGES = 20;
const BATCH_BYTES = 200_000;

const postOptions = { ...queuesClientOptions, ttl: { type: 'string' } } as const;

/** Posts the bodies in batches of at most 20 (or ~200 KB), in order; prints the new ids. */
export async function post(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, postOptions);
  if (values.help) return (out(queuesHelp), 0);
  if (pos.length === 0) throw new UsageError('expected QUEUE [BODY...]', 'queues');
  const [name, ...args] = pos as [string, ...string[]];
  const ttl = intOption('ttl', values.ttl, 1, Number.MAX_SAFE_INTEGER) ?? 300;
  const bodies =
    args.length > 0
      ? args.map((a, i) => jsonArg(a, `body ${i + 1}`))
      : readFileSync(0, 'utf8')
          .split(/\r?\n/)
          .map((line, i) => ({ line: line.trim(), at: i + 1 }))
          .filter((l) => l.line !== '')
          .map((l) => jsonArg(l.line, `stdin line ${l.at}`));
  if (bodies.length === 0) throw new UsageError('no message bodies (give them as arguments or one JSON per stdin line)', 'queues');
  const ids = await withQueues(values, async (q, project) => {
    const all: string[] = [];
    for (const batch of batches(bodies.map((body) => ({ ttl, body })))) all.push(...(await q.postMessages(project, name, q.clientId, batch)));
    return all;
  });
  if (values.json) outJson(ids);
  else out(ids.map((id) => `${id}\n`).join(''));
  return 0;
}

function batches<T>(items: T[]): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item));
    if (cur.length > 0 && (cur.length >= BATCH_MESSAGES || bytes + size > BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(item);
    bytes += size + 1;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

const listOptions = {
  ...queuesClientOptions,
  marker: { type: 'string' },
  limit: { type: 'string' },
  echo: { type: 'boolean' },
  'include-claimed': { type: 'boolean' },
  wait: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
} as const;

/** One page; the marker for the next one goes to stderr (stdout stays the table or the JSON). */
export async function messages(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, listOptions);
  if (values.help) return (out(queuesHelp), 0);
  const [name] = positionals('queues', pos, ['QUEUE']) as [string];
  const limit = intOption('limit', values.limit, 1, 1000);
  const wait = intOption('wait', values.wait, 0, 30);
  if (values.follow) {
    const flags = { marker: values.marker, limit, echo: values.echo === true, includeClaimed: values['include-claimed'] === true, json: values.json === true };
    return followQueue(values, name, flags);
  }
  const page = await withQueues(values, (q, project) =>
    q.listMessages(project, name, {
      clientId: q.clientId,
      marker: values.marker,
      limit,
      echo: values.echo === true,
      includeClaimed: values['include-claimed'] === true,
      waitMs: wait === undefined ? undefined : wait * 1000,
    }),
  );
  if (values.json) return (outJson(page), 0);
  out(messagesTable(page.messages));
  if (page.marker !== undefined) process.stderr.write(`next: --marker ${page.marker}\n`);
  return 0;
}

/** One id: that message (404 is an error); several: those that exist. */
export async function get(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, queuesClientOptions);
  if (values.help) return (out(queuesHelp), 0);
  if (pos.length < 2) throw new UsageError('expected QUEUE ID...', 'queues');
  const [name, ...ids] = pos as [string, ...string[]];
  const found = await withQueues(values, async (q, project) =>
    ids.length === 1 ? [await q.getMessage(project, name, ids[0] as string)] : q.getMessages(project, name, ids),
  );
  if (values.json) outJson(ids.length === 1 ? found[0] : found);
  else out(messagesTable(found));
  return 0;
}

const claimOptions = { ...queuesClientOptions, ttl: { type: 'string' }, grace: { type: 'string' }, limit: { type: 'string' }, wait: { type: 'string' } } as const;

export async function claim(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, claimOptions);
  if (values.help) return (out(queuesHelp), 0);
  const [name] = positionals('queues', pos, ['QUEUE']) as [string];
  const body = { ttl: intOption('ttl', values.ttl, 1, 1e9) ?? 60, grace: intOption('grace', values.grace, 1, 1e9) ?? 60 };
  const limit = intOption('limit', values.limit, 1, 1000);
  const wait = intOption('wait', values.wait, 0, 30);
  const c = await withQueues(values, (q, project) =>
    q.claimMessages(project, name, body, { limit, waitMs: wait === undefined ? undefined : wait * 1000 }),
  );
  if (values.json) return (outJson(c), 0);
  if (c !== null) out(`claim ${c.id} (ttl ${c.ttl}s)\n${messagesTable(c.messages)}`);
  return 0;
}

export const deleteOptions = { ...queuesClientOptions, claim: { type: 'string' } } as const;

/** `delete QUEUE ID...`: each id on its own (a claimed message without its claim id is a 403 error, spec 5.6). */
export async function deleteMessages(
  values: QueuesConnection & { claim?: string | undefined },
  name: string,
  ids: readonly string[],
): Promise<void> {
  await withQueues(values, async (q, project) => {
    for (const id of ids) await q.deleteMessage(project, name, id, values.claim);
  });
}

const renewOptions = { ...queuesClientOptions, ttl: { type: 'string' } } as const;

export async function renew(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, renewOptions);
  if (values.help) return (out(queuesHelp), 0);
  const [name, claimId] = positionals('queues', pos, ['QUEUE', 'CLAIM']) as [string, string];
  const ttl = intOption('ttl', values.ttl, 1, 1e9) ?? 60;
  await withQueues(values, (q, project) => q.renewClaim(project, name, claimId, { ttl }));
  return 0;
}

export async function release(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, queuesClientOptions);
  if (values.help) return (out(queuesHelp), 0);
  const [name, claimId] = positionals('queues', pos, ['QUEUE', 'CLAIM']) as [string, string];
  await withQueues(values, (q, project) => q.releaseClaim(project, name, claimId));
  return 0;
}

/** ID, AGE, TTL (and CLAIM when any has one), BODY as compact JSON cut at 200 characters. */
export function messagesTable(list: Message[]): string {
  const claimed = list.some((m) => m.claimId !== undefined);
  const header = ['ID', 'AGE', 'TTL', ...(claimed ? ['CLAIM'] : []), 'BODY'];
  const rows = list.map((m) => {
    const body = JSON.stringify(m.body) ?? 'null';
    return [m.id, `${m.age}s`, `${m.ttl}s`, ...(claimed ? [m.claimId ?? '-'] : []), body.length > 200 ? `${body.slice(0, 199)}…` : body];
  });
  return list.length === 0 ? '' : formatTable(header, rows);
}

/** The option tables of these sub-commands (for `tether completion`: the tables they parse with). */
export const messageSubOptions = {
  post: postOptions,
  messages: listOptions,
  get: queuesClientOptions,
  claim: claimOptions,
  renew: renewOptions,
  release: queuesClientOptions,
} as const;
