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

/** The owner the staged file gets: `ids`, and whether they only keep the replaced file's (nothing was given). */
export interface Ownership {
  ids: Ids;
  kept: boolean;
}

/**
 * The given ids, each half not given taken from the file being replaced, as
 * consul-template and confd keep a replaced file's owner (a rename puts a
 * new inode in place: without this, an agent running as root made every file
 * it rewrote root's). Null when no chown is needed: nothing given and no file
 * to replace, or one the process already owns (the common case: no extra call).
 */
export function ownership(given: Ids | null, current: Pick<Ids, 'uid' | 'gid'> | null): Ownership | null {
  if (current === null) return given === null ? null : { ids: given, kept: false };
  const uid = given === null || given.uid === -1 ? current.uid : given.uid;
  const gid = given === null || given.gid === -1 ? current.gid : given.gid;
  if (given === null && uid === process.geteuid?.() && gid === process.getegid?.()) return null;
  return { ids: { uid, gid }, kept: given === null };
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
