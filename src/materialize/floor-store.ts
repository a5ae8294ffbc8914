import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The sizes of the floors' last good lists, by source id, in
 * state_dir/floors.json, so that a restarted agent measures `percent`
 * against the list its previous run rendered (see Floor). Written with
 * rename (never half a file), coalesced (the last sizes win), not fsynced:
 * losing the last write only means comparing with a slightly older size.
 */
export class FloorStore {
  private readonly path: string;
  private pending: Record<string, number> | null = null;
  private writing: Promise<void> | null = null;

  constructor(private readonly dir: string) {
    this.path = join(dir, 'floors.json');
  }

  /** The saved sizes, or none when the file is missing or unreadable. */
  async read(): Promise<Record<string, number>> {
    try {
      const v = JSON.parse(await readFile(this.path, 'utf8')) as { sizes?: unknown };
      const sizes: Record<string, number> = {};
      for (const [id, n] of Object.entries((v.sizes ?? {}) as Record<string, unknown>)) {
        if (typeof n === 'number' && Number.isInteger(n) && n >= 0) sizes[id] = n;
      }
      return sizes;
    } catch {
      return {};
    }
  }

  /** Saves `sizes` soon; resolves when they (or later ones) are on disk. Rejects with the write's error. */
  save(sizes: Record<string, number>): Promise<void> {
    this.pending = sizes;
    this.writing ??= this.flush().finally(() => {
      this.writing = null;
    });
    return this.writing;
  }

  private async flush(): Promise<void> {
    while (this.pending !== null) {
      const sizes = this.pending;
      this.pending = null;
      await mkdir(this.dir, { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify({ sizes })}\n`);
      await rename(tmp, this.path);
    }
  }
}
