import { readFileSync } from 'node:fs';
import type { QueueListItem, QueueStats } from '../../queues/types.js';
import { out, outJson, parse, positionals, runSub, UsageError, type Command } from '../command.js';
import { formatTable } from '../table.js';
import { claim, deleteMessages, deleteOptions, get, messageSubOptions, messages, post, release, renew } from './queues-messages.js';
import { queuesHelp } from './queues-help.js';
import { jsonArg, queuesClientOptions, withQueues } from './queues-target.js';


const listOptions = { ...queuesClientOptions, detailed: { type: 'boolean' } } as const;

async function list(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, listOptions);
  if (values.help) return (out(queuesHelp), 0);
  positionals('queues', pos, []);
  const detailed = values.detailed === true;
  const all = await withQueues(values, async (q, project) => {
    const items: QueueListItem[] = [];
    // The spec's paging: the next page starts after the last name; an empty page (204) ends it.
    for (let marker: string | undefined; ; ) {
      const page = await q.listQueues(project, { marker, detailed });
      if (page.queues.length === 0) return items;
      items.push(...page.queues);
      marker = page.queues[page.queues.length - 1]?.name;
    }
  });
  if (values.json) outJson(all);
  else out(formatTable(detailed ? ['NAME', 'METADATA'] : ['NAME'], all.map((i) => (detailed ? [i.name, JSON.stringify(i.metadata ?? {})] : [i.name]))));
  return 0;
}

async function create(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, queuesClientOptions);
  if (values.help) return (out(queuesHelp), 0);
  const [name] = positionals('queues', pos, ['QUEUE']) as [string];
  const created = await withQueues(values, (q, project) => q.createQueue(project, name));
  if (values.json) outJson({ name, created });
  else out(created ? 'created\n' : 'exists\n');
  return 0;
}

/**
 * `delete QUEUE` deletes the queue; `delete QUEUE ID...` deletes messages.
 * `--claim` without ids is refused: a forgotten id must not delete the queue.
 */
async function remove(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, deleteOptions);
  if (values.help) return (out(queuesHelp), 0);
  if (pos.length === 0) throw new UsageError('expected QUEUE [ID...]', 'queues');
  const [name, ...ids] = pos as [string, ...string[]];
  if (ids.length > 0) return (await deleteMessages(values, name, ids), 0);
  if (values.claim !== undefined) throw new UsageError('--claim needs the message ids (without ids, delete removes the queue)', 'queues');
  await withQueues(values, (q, project) => q.deleteQueue(project, name));
  return 0;
}

async function stats(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, queuesClientOptions);
  if (values.help) return (out(queuesHelp), 0);
  const [name] = positionals('queues', pos, ['QUEUE']) as [string];
  const s = await withQueues(values, (q, project) => q.getStats(project, name));
  if (values.json) outJson(s);
  else out(statsTable(s));
  return 0;
}

export function statsTable(s: QueueStats): string {
  const end = (e: QueueStats['oldest']): string => (e === undefined ? '-' : `${e.id}  age ${e.age}s  ${e.created}`);
  return formatTable(null, [
    ['total', String(s.total)],
    ['claimed', String(s.claimed)],
    ['free', String(s.free)],
    ['oldest', end(s.oldest)],
    ['newest', end(s.newest)],
  ]);
}

/** `metadata get QUEUE` / `metadata set QUEUE JSON`: the document is JSON either way, so --json changes nothing. */
async function metadata(argv: string[]): Promise<number> {
  const { values, positionals: pos } = parse('queues', argv, queuesClientOptions);
  if (values.help) return (out(queuesHelp), 0);
  const [verb] = pos;
  if (verb === 'get') {
    const [, name] = positionals('queues', pos, ['get', 'QUEUE']) as [string, string];
    outJson(await withQueues(values, (q, project) => q.getMetadata(project, name)));
    return 0;
  }
  if (verb !== 'set') throw new UsageError('metadata takes get or set', 'queues');
  const [, name, raw] = positionals('queues', pos, ['set', 'QUEUE', 'JSON']) as [string, string, string];
  const doc = jsonArg(raw === '-' ? readFileSync(0, 'utf8') : raw, 'the metadata');
  await withQueues(values, (q, project) => q.setMetadata(project, name, doc));
  return 0;
}

export const queuesCommand: Command = {
  name: 'queues',
  summary: 'Cloud Queues: queues, messages and claims',
  help: queuesHelp,
  subs: { list: listOptions, create: queuesClientOptions, delete: deleteOptions, stats: queuesClientOptions, metadata: queuesClientOptions, ...messageSubOptions },
  run: (argv) =>
    runSub('queues', argv, { list, create, delete: remove, stats, metadata, post, messages, get, claim, renew, release }, queuesHelp),
};
