// What /metrics says, checked against what happened: replicas never double count, past events leave,
// lag is 0 only when nothing is pending, dead letters by reason, admissions by source, Redis/MySQL up.
import { afterAll, describe, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import { IssuerService } from "../modules/issuer/service";
import { cuttableProxy, readMetrics, startServer, stopServer, TEST_DB, valueOf, waitFor, type Started } from "../scripts/testkit";
import { ROLES } from "./config";
import { Counter, Histogram, Registry } from "prom-client";
import { createMetrics, LightHistogram, Snapshot } from "./metrics";
import { couponEventSource, queueEventSource } from "./metrics-sources";
import { eventKeys } from "./redis";

setDefaultTimeout(120_000);

const started: Started[] = [];
async function server(env: Record<string, string> = {}) {
  const s = await startServer(env);
  started.push(s);
  return s;
}
afterAll(async () => {
  for (const s of started.reverse()) await stopServer(s).catch(() => {});
});

const seriesOf = (m: Map<string, number>, eventId: number) => [...m.keys()].filter((k) => k.includes(`event_id="${eventId}"`));

const PER_EVENT_GAUGES = [
  "coupon_event_stock",
  "coupon_event_remaining",
  "coupon_event_issued",
  "coupon_event_persisted",
  "coupon_event_pending",
  "coupon_event_persist_lag_seconds",
  "coupon_event_dead_letters",
  "coupon_event_status",
  "coupon_event_traffic_threshold_per_minute",
  "coupon_event_running_capacity",
  "coupon_event_admit_limit_per_second",
  "coupon_event_waiting",
  "coupon_event_running",
  "coupon_event_admit_rate_per_second",
  "coupon_event_request_rate_per_minute",
];

describe("the hot path's histograms", () => {
  test("a LightHistogram exports what prom-client's histogram and counter would for the same observations", async () => {
    const bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
    const [theirs, ours] = [new Registry(), new Registry()];
    const h = new Histogram({ name: "x_seconds", help: "latency", labelNames: ["method", "route", "status"], buckets: bounds, registers: [theirs] });
    const c = new Counter({ name: "x_total", help: "requests", labelNames: ["method", "route", "status"], registers: [theirs] });
    const light = new LightHistogram("x_seconds", "latency", ["method", "route", "status"], bounds, [ours], { name: "x_total", help: "requests" });
    // on a bound, between bounds, under the first, past the last; a label that needs escaping
    const seen: [string, string, string, number][] = [["GET", "/a", "200", 0.0005], ["GET", "/a", "200", 0.0001], ["GET", "/a", "200", 0.003], ["POST", '/b"\\', "410", 7], ["POST", '/b"\\', "410", 1], ["GET", "/a", "200", 0.01]];
    for (const [m, r, st, v] of seen) {
      h.observe({ method: m, route: r, status: st }, v);
      c.inc({ method: m, route: r, status: st });
      light.child(m, r, st).observe(v);
    }
    // the same lines (label order inside the braces and line order aside)
    const lines = (text: string) => text.split("\n").map((l) => l.replace(/\{(.*)\}/, (_, x: string) => `{${x.split(",").sort().join(",")}}`)).sort();
    expect(lines(await ours.metrics())).toEqual(lines(await theirs.metrics()));
  });
});

describe("replicas of every role sharing one Redis", () => {
  test("each per-event gauge comes from exactly one process, sums equal the stats, and a replica takes over when the holder stops", async () => {
    const a = await server({ QUEUE_SCHEDULER: "off" });
    const b = await server({ QUEUE_SCHEDULER: "off", REDIS_KEY_PREFIX: a.prefix });
    const id = (await a.api.createEvent({ name: "replicas", stock: 50, trafficRpm: 0, runningCapacity: 5 })).body.id as number;
    // both routers answer enters for the event, so both know it and both measure its rate
    for (let i = 0; i < 6; i++) expect((await (i % 2 ? a : b).api.enter(id, `rep-${i}`)).status).toBe(202);

    await Bun.sleep(3 * 250); // both routers have flushed their counts to the shared window (RATE_FLUSH_MS)
    const [ma, mb] = await Promise.all([readMetrics(a.url), readMetrics(b.url)]);
    for (const name of PER_EVENT_GAUGES) {
      const from = [ma, mb].filter((m) => [...m.keys()].some((k) => k.startsWith(`${name}{`) && k.includes(`event_id="${id}"`)));
      expect({ name, processes: from.length }).toEqual({ name, processes: 1 });
    }
    expect([ma, mb].filter((m) => valueOf(m, "coupon_issuer_lag_seconds") !== undefined).length).toBe(1);
    const sum = (name: string, labels: Record<string, string | number>) => (valueOf(ma, name, labels) ?? 0) + (valueOf(mb, name, labels) ?? 0);
    const st = (await a.api.stats(id)).body;
    expect(sum("coupon_event_waiting", { event_id: id })).toBe(st.waiting);
    expect(sum("coupon_event_stock", { event_id: id })).toBe(50);
    expect(sum("coupon_event_request_rate_per_minute", { event_id: id })).toBe(6);
    // counters count what each process did: their sum is the whole
    expect(sum("coupon_door_outcomes_total", { event_id: id, outcome: "waiting" })).toBe(6);

    // whichever held the leases stops (and releases them): the other exports everything within a renewal
    await a.stop();
    started.splice(started.indexOf(a), 1);
    await waitFor("b exports every per-event gauge", async () => {
      const m = await readMetrics(b.url);
      return PER_EVENT_GAUGES.filter((n) => n !== "coupon_event_request_rate_per_minute").every((n) => [...m.keys()].some((k) => k.startsWith(`${n}{`) && k.includes(`event_id="${id}"`)));
    }, 30_000, 500);
  });
});

describe("past events leave the series", () => {
  test("an event closed, or sold out and drained, longer ago than the retention is no longer read nor exported; an open one stays", async () => {
    const s = await server();
    // a retention long enough that a slow drain on a loaded machine cannot outlast it before the check
    const source = couponEventSource(s.redis, s.mysql!, s.events!, s.prefix, 6000);
    const ids = async () => (await source()).map((r) => r.eventId);
    const open = (await s.api.createEvent({ name: "open", stock: 10, trafficRpm: 1000, runningCapacity: 10 })).body.id as number;
    const closesAt = Date.now() + 1000;
    const closing = (await s.api.createEvent({ name: "closes", stock: 10, trafficRpm: 1000, runningCapacity: 10, endsAt: new Date(closesAt).toISOString() })).body.id as number;
    const soldOut = (await s.api.createEvent({ name: "sells out", stock: 1, trafficRpm: 1000, runningCapacity: 10 })).body.id as number;
    expect((await s.api.enter(soldOut, "last-one")).status).toBe(200);
    expect((await s.api.issue(soldOut, "last-one")).status).toBe(201);
    expect(await ids()).toEqual(expect.arrayContaining([open, closing, soldOut]));
    await waitFor("drained", async () => (await s.api.stats(soldOut)).body.pending === 0);
    // ended: still exported for the retention time after its end
    await Bun.sleep(Math.max(0, closesAt + 100 - Date.now()));
    expect(await ids()).toEqual(expect.arrayContaining([closing, soldOut]));
    await waitFor("past the retention", async () => !(await ids()).includes(closing), 20_000, 200);
    await waitFor("past the retention", async () => !(await ids()).includes(soldOut), 20_000, 200);
    expect(await ids()).toContain(open);
  });

  test("the queue role exports an event while anyone waits or runs, and drops it after the retention", async () => {
    const s = await server({ QUEUE_SCHEDULER: "off" });
    const source = queueEventSource(s.redis, s.prefix, () => s.events!.ids(), 1000).read;
    const id = (await s.api.createEvent({ name: "queue drop", stock: 10, trafficRpm: 0, runningCapacity: 10 })).body.id as number;
    expect((await source()).map((r) => r.eventId)).not.toContain(id); // nobody came yet
    expect((await s.api.enter(id, "q1")).status).toBe(202);
    // idle a moment ago: looked at again after a short pause
    await waitFor("seen waiting", async () => (await source()).some((r) => r.eventId === id && r.waiting === 1), 10_000, 200);
    await s.api.leave(id, "q1");
    expect(await source()).toContainEqual({ eventId: id, waiting: 0, running: 0, admitRate: 0 });
    await waitFor("dropped", async () => !(await source()).some((r) => r.eventId === id), 10_000, 200);
  });

  test("per-event counters lose an idle event's children; ids that name no event are never labels", async () => {
    const m = createMetrics({ roles: new Set(ROLES), mysql: false, retentionMs: 300 });
    m.doorOutcome(5, "admitted");
    m.doorOutcome(6, "event_not_found");
    m.doorRefused(7, "rate_limited"); // never answered for: the id is unchecked
    m.doorRefused(5, "rate_limited");
    m.issueOutcome(8, "event_not_found");
    m.issueOutcome(9, "issued");
    let text = await m.registry.metrics();
    expect(text).toContain('coupon_door_outcomes_total{event_id="5",outcome="admitted"} 1');
    expect(text).toContain('coupon_door_outcomes_total{event_id="5",outcome="rate_limited"} 1');
    expect(text).toContain('coupon_issue_outcomes_total{event_id="9",outcome="issued"} 1');
    for (const gone of ["6", "7", "8"]) expect(text).not.toContain(`event_id="${gone}"`);
    await Bun.sleep(400);
    m.doorOutcome(10, "waiting");
    text = await m.registry.metrics();
    expect(text).not.toContain('event_id="5"');
    expect(text).not.toContain('event_id="9"');
    expect(text).toContain('coupon_door_outcomes_total{event_id="10",outcome="waiting"} 1');
  });

  test("a live server never labels an id that names no event", async () => {
    const s = await server();
    expect((await s.api.enter(987654321, "nobody")).status).toBe(404);
    expect((await s.api.issue(987654321, "nobody")).status).toBe(404);
    expect(seriesOf(await readMetrics(s.url), 987654321)).toEqual([]);
  });
});

describe("persistence", () => {
  test("lag grows from the oldest unpersisted issuance while nothing persists, and is 0 once drained", async () => {
    const s = await server({ ISSUER: "off" });
    expect(valueOf(await readMetrics(s.url), "coupon_issuer_lag_seconds")).toBe(0);
    const id = (await s.api.createEvent({ name: "lag", stock: 10, trafficRpm: 1000, runningCapacity: 10 })).body.id as number;
    for (const u of ["l1", "l2", "l3"]) {
      expect((await s.api.enter(id, u)).status).toBe(200);
      expect((await s.api.issue(id, u)).status).toBe(201);
    }
    await Bun.sleep(2100); // past the snapshot read before the issues
    const first = await readMetrics(s.url);
    expect(valueOf(first, "coupon_event_pending", { event_id: id })).toBe(3);
    const lag1 = valueOf(first, "coupon_issuer_lag_seconds")!;
    expect(lag1).toBeGreaterThan(0);
    expect(valueOf(first, "coupon_event_persist_lag_seconds", { event_id: id })).toBeGreaterThan(0);
    await Bun.sleep(1000);
    expect(valueOf(await readMetrics(s.url), "coupon_issuer_lag_seconds")).toBeGreaterThan(lag1);

    const issuer = new IssuerService(s.redis, s.mysql!, s.prefix, () => s.events!.ids(), s.config.issuer);
    issuer.start();
    try {
      await waitFor("drained and lag back to 0", async () => {
        const m = await readMetrics(s.url);
        return valueOf(m, "coupon_issuer_lag_seconds") === 0 && valueOf(m, "coupon_event_persisted", { event_id: id }) === 3 && valueOf(m, "coupon_event_pending", { event_id: id }) === 0;
      }, 30_000, 250);
    } finally {
      await issuer.stop();
    }
  });

  test("dead letters are counted by reason: an entry fault by the issuer, over_stock from the stream's reason field", async () => {
    const s = await server({ ISSUER_MAX_DELIVERIES: "1" });
    const id = (await s.api.createEvent({ name: "dead", stock: 10, trafficRpm: 1000, runningCapacity: 10 })).body.id as number;
    const k = eventKeys(s.prefix, id);
    await s.redis.xadd(k.stream, "*", "e", String(id), "t", String(Date.now())); // no user: never a row
    await waitFor("dead-lettered", async () => (await s.api.stats(id)).body.dead === 1);
    // what the MySQL-side stock guard writes when it refuses a row past stock
    await s.redis.xadd(k.dead, "*", "e", String(id), "u", "late", "t", String(Date.now()), "reason", "over_stock");
    await waitFor("both reasons exported", async () => {
      const m = await readMetrics(s.url);
      return valueOf(m, "coupon_event_dead_letters", { event_id: id, reason: "entry_fault" }) === 1 && valueOf(m, "coupon_event_dead_letters", { event_id: id, reason: "over_stock" }) === 1;
    }, 10_000, 250);
    const m = await readMetrics(s.url);
    expect(valueOf(m, "coupon_issuer_dead_lettered_total", { reason: "entry_fault" })).toBe(1);
    expect(valueOf(m, "coupon_issuer_dead_lettered_total", { reason: "over_stock" })).toBe(0);
  });
});

describe("admissions", () => {
  test("direct, refill and scheduler admissions add up to the users who got a slot; entering again is not a second admission", async () => {
    const s = await server({ QUEUE_SCHEDULER: "off" });
    const id = (await s.api.createEvent({ name: "sources", stock: 10, trafficRpm: 1_000_000, runningCapacity: 2, admitPerSecond: 100 })).body.id as number;
    const enter = async (u: string) => (await s.api.enter(id, u)).status;
    expect([await enter("a1"), await enter("a2"), await enter("a3"), await enter("a4"), await enter("a5")]).toEqual([200, 200, 202, 202, 202]);
    expect(await enter("a1")).toBe(200); // same slot
    for (const u of ["a1", "a2", "a3"]) expect((await s.api.issue(id, u)).status).toBe(201); // each frees a slot the script refills
    expect(await enter("a6")).toBe(202); // a4, a5 hold both slots
    expect((await s.api.leave(id, "a4")).status).toBe(204);
    expect((await s.queue.tick(id)).admitted).toBe(1);
    const m = await readMetrics(s.url);
    const n = (source: string) => valueOf(m, "coupon_event_admissions_total", { event_id: id, source });
    expect({ direct: n("direct"), refill: n("refill"), scheduler: n("scheduler") }).toEqual({ direct: 2, refill: 3, scheduler: 1 });
    expect(valueOf(m, "coupon_door_outcomes_total", { event_id: id, outcome: "admitted" })).toBe(3);
    expect(valueOf(m, "coupon_issue_outcomes_total", { event_id: id, outcome: "issued" })).toBe(3);
  });
});

describe("reachability", () => {
  test("coupon_mysql_up follows a MySQL outage and recovery; coupon_redis_up stays 1", async () => {
    const proxy = cuttableProxy(Number(new URL(TEST_DB).port || 3306));
    try {
      const viaProxy = TEST_DB.replace(/:\/\/([^@/]+@)?[^/]+\//, (_m, auth) => `://${auth ?? ""}127.0.0.1:${proxy.port}/`);
      const s = await server({ DATABASE_URL: viaProxy });
      const up = async () => {
        const m = await readMetrics(s.url);
        return [valueOf(m, "coupon_redis_up"), valueOf(m, "coupon_mysql_up")];
      };
      await waitFor("up", async () => (await up()).join() === "1,1", 15_000, 250);
      proxy.cut();
      await waitFor("MySQL down", async () => (await up()).join() === "1,0", 20_000, 250);
      proxy.restore();
      await waitFor("MySQL back", async () => (await up()).join() === "1,1", 20_000, 250);
    } finally {
      proxy.stop();
    }
  });

  test("a role without MySQL exports no MySQL metrics; every role exports Redis reachability", () => {
    const router = createMetrics({ roles: new Set(["router"] as const), mysql: false });
    const names = router.registry.getMetricsAsArray().map((x) => x.name);
    expect(names).toContain("coupon_redis_up");
    expect(names).not.toContain("coupon_mysql_up");
    expect(names).not.toContain("coupon_event_stock");
    expect(names).toContain("coupon_event_request_rate_per_minute");
  });

  test("a snapshot is read once for concurrent scrapes and at most every maxAge", async () => {
    let reads = 0;
    const snap = new Snapshot(async () => {
      reads++;
      await Bun.sleep(20);
      return [reads];
    }, 200);
    expect(await Promise.all([snap.get(), snap.get(), snap.get()])).toEqual([[1], [1], [1]]);
    expect(await snap.get()).toEqual([1]);
    await Bun.sleep(250);
    expect(await snap.get()).toEqual([2]);
  });

  test("a snapshot whose source is down logs the outage once when it starts and once when it ends, not per scrape", async () => {
    let down = true;
    const snap = new Snapshot(async () => {
      if (down) throw new Error("Pool is closed");
      return [1];
    }, 0);
    const lines: string[] = [];
    const spy = spyOn(console, "error").mockImplementation((line: string) => void lines.push(line));
    try {
      for (let i = 0; i < 20; i++) expect(await snap.get()).toBeNull();
      down = false;
      for (let i = 0; i < 3; i++) expect(await snap.get()).toEqual([1]);
    } finally {
      spy.mockRestore();
    }
    expect(lines).toHaveLength(2);
    expect(lines[0]).toStartWith("metrics: snapshot failed: Pool is closed");
    expect(lines[1]).toStartWith("metrics: snapshot works again after 20 failed attempt(s)");
  });
});
