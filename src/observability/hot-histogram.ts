/**
 * A Prometheus histogram for the request hot path: each series is a few
 * numbers found once and then updated in place, written out in the text
 * format (version 0.0.4) only when scraped.
 *
 * Why not prom-client's Histogram: its observe() validates and hashes the
 * labels and looks the bucket up by its decimal text on every call, a cost
 * that a heartbeat, observed four times (the request and three store calls),
 * pays on the server's hottest path (figures: bench/README.md, "Registry
 * metrics: what a request pays"). Everything not on that path stays prom-client's.
 */

export interface HistogramSeries {
  count: number;
  sum: number;
  /** Per bucket (not cumulative), the last one +Inf. */
  readonly counts: Float64Array;
}

export class HotHistogram<L extends string> {
  private readonly series = new Map<string, { labels: string; s: HistogramSeries }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly bounds: readonly number[],
  ) {}

  /** The series of these label values (in `labelNames` order), created on first use. Keep it: lookups cost. */
  seriesOf(values: readonly string[]): HistogramSeries {
    const key = values.join('\u0000');
    let entry = this.series.get(key);
    if (entry === undefined) {
      const labels = this.labelNames.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`).join(',');
      entry = { labels, s: { count: 0, sum: 0, counts: new Float64Array(this.bounds.length + 1) } };
      this.series.set(key, entry);
    }
    return entry.s;
  }

  observe(s: HistogramSeries, value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    s.counts[i] = (s.counts[i] as number) + 1;
    s.count++;
    s.sum += value;
  }

  /** The exposition text of every series (empty when none was observed), ending in a newline. */
  text(): string {
    if (this.series.size === 0) return '';
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, s } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += s.counts[i] as number;
        const le = i < this.bounds.length ? String(this.bounds[i]) : '+Inf';
        lines.push(`${this.name}_bucket{${labels},le="${le}"} ${cumulative}`);
      }
      lines.push(`${this.name}_sum{${labels}} ${s.sum}`, `${this.name}_count{${labels}} ${s.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
