import type { FileHandle } from 'node:fs/promises';
import type { Logger } from '../observability/logger.js';
import type { Ownership } from './write-ids.js';

/**
 * Paths whose replaced file's owner could not be kept (not root), with the
 * ids that failed and whether the group could be kept. The same ids are not
 * tried again on the next write of the path (a check that keeps failing, or
 * an operator who gives the file back, would otherwise cost an EPERM each
 * time), and the warning is said once per path.
 */
const unkept = new Map<string, { ids: string; group: boolean }>();

/**
 * Gives the staged file `owner`. An owner given in the manifest must take:
 * any error throws. One that only keeps the replaced file's is kept as far
 * as the process may: without root, chown(uid, gid) fails whole (EPERM), but
 * the file's owner may still give it a group it is a member of, so the group
 * is kept alone (chown(-1, gid)); a group it may not give leaves the file
 * the process's.
 */
export async function chownStaged(file: FileHandle, owner: Ownership, dest: string, log: Logger | undefined): Promise<void> {
  const { uid, gid } = owner.ids;
  if (!owner.kept) return file.chown(uid, gid);
  const ids = `${uid}:${gid}`;
  const known = unkept.get(dest);
  if (known?.ids === ids) {
    if (known.group) await file.chown(-1, gid);
    return;
  }
  try {
    await file.chown(uid, gid);
    return;
  } catch (err) {
    if (errnoOf(err) !== 'EPERM') throw err;
  }
  const group = await file.chown(-1, gid).then(
    () => true,
    (err: unknown) => {
      if (errnoOf(err) !== 'EPERM') throw err;
      return false;
    },
  );
  unkept.set(dest, { ids, group });
  if (known !== undefined) return;
  const msg = group
    ? "cannot keep the replaced file's owner (not root); the new file is the agent's, in the replaced file's group"
    : "cannot keep the replaced file's owner (not root); the new file is the agent's";
  log?.warn({ path: dest, uid, gid }, msg);
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
