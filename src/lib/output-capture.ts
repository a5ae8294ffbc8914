import type { Readable } from 'node:stream';

/**
 * Past the cap, a command's pipes are still read at full speed for this many
 * bytes more (so a verbose command that then exits is not slowed down), then
 * once per DRAIN_PAUSE_MS each. Reading a pipe as fast as a flooding command
 * (`yes`) writes costs the agent most of a core (a fresh 64 KiB buffer per
 * read); read slowly, the pipe fills and the command blocks in write()
 * instead. One read takes what the pipe holds (64 KiB on Linux), so even a
 * huge output gets through, at ~640 KB/s, where not reading at all would
 * hang the command until its timeout and closing the pipe would kill it with
 * SIGPIPE. Figures: bench/README.md, "Exec output past the cap".
 */
export const DRAIN_FREE_BYTES = 1024 * 1024;
export const DRAIN_PAUSE_MS = 100;

/**
 * Keeps the first (or last) `limit` bytes written to one or more pipes,
 * interleaved as they came, and counts the rest. Past the cap and
 * DRAIN_FREE_BYTES more, each pipe is paused for DRAIN_PAUSE_MS after every read.
 */
export class OutputCapture {
  /** Bytes read in all. */
  bytes = 0;
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private readonly streams: Readable[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private throttled = true;

  constructor(
    private readonly limit: number,
    private readonly keep: 'head' | 'tail',
  ) {}

  get truncated(): boolean {
    return this.bytes > this.limit;
  }

  read(stream: Readable): void {
    this.streams.push(stream);
    stream.on('data', (chunk: Buffer) => {
      this.push(chunk);
      if (this.throttled && this.bytes > this.limit + DRAIN_FREE_BYTES) this.throttle(stream);
    });
    stream.on('error', () => {}); // a destroyed pipe: what was read stays
  }

  /** Reads what is left at full speed (the command exited: the pipes hold its last words). */
  unthrottle(): void {
    this.throttled = false;
    this.clearTimers();
    for (const s of this.streams) s.resume();
  }

  /** Stops reading every pipe (what was read is kept). */
  destroy(): void {
    this.clearTimers();
    for (const s of this.streams) s.destroy();
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** The kept bytes as text; a cut is marked "…" and never splits a character. */
  text(): string {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    if (!this.truncated) return all.toString('utf8');
    if (this.keep === 'head') return `${all.toString('utf8').replace(/\uFFFD+$/, '')}…`;
    return `…${all.subarray(Math.max(0, all.length - this.limit)).toString('utf8').replace(/^\uFFFD+/, '')}`;
  }

  private push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.keep === 'head') {
      const room = this.limit - this.kept;
      if (room <= 0) return;
      // A copy: a view would keep the whole (64 KiB) read buffer alive.
      const part = chunk.length <= room ? chunk : Buffer.from(chunk.subarray(0, room));
      this.chunks.push(part);
      this.kept += part.length;
      return;
    }
    this.chunks.push(chunk);
    this.kept += chunk.length;
    // Drop whole chunks from the front while the rest still holds `limit` bytes.
    while (this.chunks.length > 1 && this.kept - (this.chunks[0] as Buffer).length >= this.limit) {
      this.kept -= (this.chunks.shift() as Buffer).length;
    }
  }

  private throttle(stream: Readable): void {
    stream.pause();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      stream.resume();
    }, DRAIN_PAUSE_MS);
    this.timers.add(timer);
  }
}
