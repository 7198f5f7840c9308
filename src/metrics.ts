import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

const LATENCY = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export type EventGauges = { eventId: number; waiting: number; running: number; issued?: number; persisted?: number; pending?: number; dead?: number };

/**
 * One registry per process. Labels stay small: route is the pattern (never the raw path), events
 * are labelled by id only.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const m = {
    registry,
    httpRequests: new Counter({ name: "coupon_http_requests_total", help: "HTTP requests by route and status", labelNames: ["method", "route", "status"], registers }),
    httpDuration: new Histogram({ name: "coupon_http_request_duration_seconds", help: "HTTP latency by route and status", labelNames: ["method", "route", "status"], buckets: LATENCY, registers }),
    redisDuration: new Histogram({ name: "coupon_redis_call_duration_seconds", help: "Latency of the Redis scripts on the hot path", labelNames: ["call"], buckets: LATENCY, registers }),
    mysqlDuration: new Histogram({ name: "coupon_mysql_query_duration_seconds", help: "Latency of MySQL statements", labelNames: ["query"], buckets: LATENCY, registers }),
    issueOutcomes: new Counter({ name: "coupon_issue_total", help: "Issue attempts by outcome (issued, sold_out, already_issued, …)", labelNames: ["outcome"], registers }),
    issuerPersisted: new Counter({ name: "coupon_issuer_persisted_total", help: "Issuances this process committed to MySQL", registers }),
    issuerBatch: new Histogram({ name: "coupon_issuer_batch_size", help: "Rows per committed batch", buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000], registers }),
    issuerLag: new Gauge({ name: "coupon_issuer_lag_seconds", help: "Age of the oldest issuance in the last committed batch", registers }),
    /** Set by the composition: reads per-event gauges at scrape time. */
    eventSource: null as null | (() => Promise<EventGauges[]>),
    deadLetteredSource: null as null | (() => number),
  };
  new Counter({
    name: "coupon_issuer_dead_lettered_total",
    help: "Entries this process moved to a dead-letter stream",
    registers,
    collect() {
      this.reset();
      if (m.deadLetteredSource) this.inc(m.deadLetteredSource());
    },
  });
  // label children looked up once per (method, route, status), not on every request
  const httpChildren = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();
  const observeHttp = (method: string, route: string, status: string, seconds: number) => {
    const key = `${method} ${route} ${status}`;
    let c = httpChildren.get(key);
    if (!c) httpChildren.set(key, (c = { count: m.httpRequests.labels(method, route, status), latency: m.httpDuration.labels(method, route, status) }));
    c.count.inc();
    c.latency.observe(seconds);
  };
  const fields = ["waiting", "running", "issued", "persisted", "pending", "dead"] as const;
  // one snapshot per scrape feeds all the per-event gauges
  let snapshot: Promise<EventGauges[]> | null = null;
  for (const f of fields) {
    new Gauge({
      name: `coupon_event_${f}`,
      help: `Per event: ${f}`,
      labelNames: ["event_id"],
      registers,
      async collect() {
        this.reset();
        if (!m.eventSource) return;
        snapshot ??= m.eventSource().finally(() => setTimeout(() => (snapshot = null), 200));
        for (const ev of await snapshot.catch(() => [])) {
          const v = ev[f];
          if (v !== undefined) this.set({ event_id: String(ev.eventId) }, v);
        }
      },
    });
  }
  return Object.assign(m, { observeHttp });
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Times a promise into a histogram. */
export async function timed<T>(h: Histogram<string>, labels: Record<string, string>, p: () => Promise<T>): Promise<T> {
  const end = h.startTimer(labels);
  try {
    return await p();
  } finally {
    end();
  }
}
