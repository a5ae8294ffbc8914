import { followMessages } from '../../client/queues-follow.js';
import type { Message } from '../../queues/types.js';
import { out } from '../command.js';
import { cleanCell } from '../table.js';
import { withQueues, type QueuesConnection } from './queues-target.js';

export interface FollowFlags {
  marker: string | undefined;
  limit: number | undefined;
  echo: boolean;
  includeClaimed: boolean;
  json: boolean;
}

/**
 * `tether queues messages QUEUE --follow`: prints every new message (a line
 * each, or a JSON line each with --json) until SIGINT/SIGTERM, then the
 * marker to resume from on stderr, and exits 0. An unreachable server is
 * retried with a warning; a fault retrying cannot fix ends the command.
 */
export async function followQueue(values: QueuesConnection, name: string, flags: FollowFlags): Promise<number> {
  const ac = new AbortController();
  const onSignal = (): void => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let marker = flags.marker;
  try {
    await withQueues(values, async (q, project) => {
      const batches = followMessages(q, project, name, {
        signal: ac.signal,
        clientId: q.clientId,
        marker,
        limit: flags.limit,
        echo: flags.echo,
        includeClaimed: flags.includeClaimed,
        onError: (err) => process.stderr.write(`warning: ${err instanceof Error ? err.message : String(err)} (retrying)\n`),
      });
      for await (const batch of batches) {
        out(batch.messages.map((m) => `${flags.json ? JSON.stringify(m) : followLine(m)}\n`).join(''));
        marker = batch.marker;
      }
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (marker !== undefined) process.stderr.write(`next: --marker ${marker}\n`);
  return 0;
}

/** A streamed line: id, age, ttl, body as compact JSON (no table: widths are not known in advance). */
function followLine(m: Message): string {
  return [m.id, `${m.age}s`, `${m.ttl}s`, JSON.stringify(m.body) ?? 'null'].map(cleanCell).join('  ');
}
