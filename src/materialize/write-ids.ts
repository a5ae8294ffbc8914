import { readFile } from 'node:fs/promises';
import { TetherError } from '../lib/errors.js';

/** A file's owner and group ids; -1 leaves that half as it is. */
export interface Ids {
  uid: number;
  gid: number;
}

/** Null when neither is given (no chown); -1 leaves that half as it is. Names are read from the system databases. */
export async function resolveIds(owner: string | number | null, group: string | number | null): Promise<Ids | null> {
  if (owner === null && group === null) return null;
  return {
    uid: owner === null ? -1 : await lookupId(owner, '/etc/passwd', 'user'),
    gid: group === null ? -1 : await lookupId(group, '/etc/group', 'group'),
  };
}

async function lookupId(value: string | number, db: string, what: string): Promise<number> {
  const id = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : null;
  if (id !== null) {
    if (Number.isSafeInteger(id) && id >= 0) return id;
    throw new TetherError('write.failed', `invalid ${what} id ${value}`);
  }
  // Lines are `name:x:id:...` in both /etc/passwd and /etc/group.
  for (const line of (await readFile(db, 'utf8')).split('\n')) {
    const [name, , field] = line.split(':');
    if (name === value && field !== undefined && /^\d+$/.test(field)) return Number(field);
  }
  throw new TetherError('write.failed', `unknown ${what} "${value}" (not in ${db})`);
}
