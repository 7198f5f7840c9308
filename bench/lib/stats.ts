// Latency and status bookkeeping shared by every load driver (autocannon and the waiting-room client).

export type Latency = { count: number; mean: number; p50: number; p95: number; p975: number; p99: number; max: number };
export type KindStats = Latency & { rps: number; statuses: Record<string, number> };
export type LoadStats = {
  durationS: number;
  connections: number;
  all: KindStats;
  byKind: Record<string, KindStats>;
  /** transport failures: connection errors and timeouts (no HTTP status at all) */
  errors: number;
  timeouts: number;
};

/** Exact percentiles over every sample (a run holds at most a few million, so sorting is fine). */
export function latency(samples: Float64Array): Latency {
  const n = samples.length;
  if (!n) return { count: 0, mean: 0, p50: 0, p95: 0, p975: 0, p99: 0, max: 0 };
  const s = samples.slice().sort();
  const at = (q: number) => s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  let sum = 0;
  for (const v of s) sum += v;
  return { count: n, mean: sum / n, p50: at(0.5), p95: at(0.95), p975: at(0.975), p99: at(0.99), max: s[n - 1]! };
}

class Samples {
  private buf = new Float64Array(1024);
  length = 0;
  push(v: number) {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  view() {
    return this.buf.subarray(0, this.length);
  }
}

/** Records (kind, status, ms) for each response; `summary` turns them into throughput and percentiles. */
export class Recorder {
  private readonly kinds = new Map<string, { samples: Samples; statuses: Record<string, number> }>();
  private readonly all = new Samples();
  errors = 0;
  timeouts = 0;

  add(kind: string, status: number | string, ms: number) {
    let k = this.kinds.get(kind);
    if (!k) this.kinds.set(kind, (k = { samples: new Samples(), statuses: {} }));
    k.samples.push(ms);
    k.statuses[status] = (k.statuses[status] ?? 0) + 1;
    this.all.push(ms);
  }

  summary(durationS: number, connections: number): LoadStats {
    const statuses: Record<string, number> = {};
    const byKind: Record<string, KindStats> = {};
    for (const [kind, k] of this.kinds) {
      byKind[kind] = { ...latency(k.samples.view()), rps: k.samples.length / durationS, statuses: k.statuses };
      for (const [s, n] of Object.entries(k.statuses)) statuses[s] = (statuses[s] ?? 0) + n;
    }
    const all = { ...latency(this.all.view()), rps: this.all.length / durationS, statuses };
    return { durationS, connections, all, byKind, errors: this.errors, timeouts: this.timeouts };
  }
}
