import type { Readable } from 'node:stream';

/**
 * Once a command's output passed the cap, each of its pipes is read once per
 * this many ms. Reading a pipe as fast as a flooding command (`yes`) writes
 * costs the agent most of a core (a fresh 64 KiB buffer per read); read
 * slowly, the pipe fills and the command blocks in write() instead. One read
 * takes what the pipe holds (64 KiB on Linux), so a command that prints a lot
 * and then exits still gets through, at about a megabyte a second, where not
 * reading at all would hang it until its timeout, and closing the pipe would
 * kill it with SIGPIPE. Figures: bench/README.md, "Exec output past the cap".
 */
export const DRAIN_PAUSE_MS = 50;

/**
 * Keeps the first (or last) `limit` bytes written to one or more pipes,
 * interleaved as they came, and counts the rest. Past the cap each pipe is
 * paused for DRAIN_PAUSE_MS after every read.
 */
export class OutputCapture {
  /** Bytes read in all. */
  bytes = 0;
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private readonly streams: Readable[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

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
      if (this.bytes > this.limit) this.throttle(stream);
    });
    stream.on('error', () => {}); // a destroyed pipe: what was read stays
  }

  /** Stops reading every pipe (what was read is kept). */
  destroy(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.streams) s.destroy();
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
