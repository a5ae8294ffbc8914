import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** How long a new marker waits before it is written: a burst of changes writes it once, after their files. */
export const MARKER_SAVE_DELAY_MS = 100;

/**
 * The agent's small state file: the events marker, so a restart resumes the
 * feed where it stopped. Written with rename (never half a file); not fsynced:
 * losing the last marker only means re-reading a few events (and a restart
 * begins with a full sync anyway).
 *
 * Saves are coalesced and written MARKER_SAVE_DELAY_MS after the first of a
 * burst, off the path of a change: the feed re-arms its long-poll at once,
 * and the marker's writes do not queue beside the rendered file's.
 */
export class MarkerFile {
  private readonly path: string;
  private writing: Promise<void> = Promise.resolve();
  /** The marker waiting to be written (undefined: none). */
  private next: string | null | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirMade = false;

  constructor(
    private readonly dir: string,
    private readonly delayMs = MARKER_SAVE_DELAY_MS,
  ) {
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

  /** Saves `marker` soon (the last call wins); `flush` writes it now. Failures go to `onError`. */
  saveSoon(marker: string | null, onError: (err: unknown) => void): void {
    this.next = marker;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(onError);
    }, this.delayMs);
    this.timer.unref();
  }

  /** Writes the pending marker, if any (serialized: the last call wins). Resolves when written; rejects on failure. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.next === undefined) return this.writing;
    const marker = this.next;
    this.next = undefined;
    this.writing = this.writing.catch(() => undefined).then(() => this.write(marker));
    return this.writing;
  }

  /** Saves `marker` now. */
  save(marker: string | null): Promise<void> {
    this.next = marker;
    return this.flush();
  }

  private async write(marker: string | null): Promise<void> {
    // The directory is made once, not on every save (and again if it was removed).
    if (!this.dirMade) await mkdir(this.dir, { recursive: true });
    this.dirMade = true;
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify({ marker })}\n`);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
      this.dirMade = false;
      await mkdir(this.dir, { recursive: true });
      await writeFile(tmp, `${JSON.stringify({ marker })}\n`);
      this.dirMade = true;
    }
    await rename(tmp, this.path);
  }
}
