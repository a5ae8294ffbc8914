import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The agent's small state file: the events marker, so a restart resumes the
 * feed where it stopped. Written with rename (never half a file); not fsynced:
 * losing the last marker only means re-reading a few events.
 */
export class MarkerFile {
  private readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {
    this.path = join(dir, 'events-marker.json');
  }

  /** The saved marker, or null when there is none (or it is unreadable). */
  async read(): Promise<string | null> {
    try {
      const v = JSON.parse(await readFile(this.path, 'utf8')) as { marker?: unknown };
      return typeof v.marker === 'string' ? v.marker : null;
    } catch {
      return null;
    }
  }

  /** Saves `marker` (serialized: the last call wins). Never rejects; returns the error, if any. */
  save(marker: string | null): Promise<void> {
    this.writing = this.writing.then(async () => {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify({ marker })}\n`);
      await rename(tmp, this.path);
    });
    return this.writing;
  }
}
