// How fast issuances reach MySQL.
// - live: one ROLE=all server sells an event out under load; lag = from the last issuance (its own
//   timestamp, read back from MySQL) to the moment the event's stream is empty (pending = 0).
// - backlog: a server with ISSUER=off sells out a bigger event, so every issuance waits in the
//   stream; then an issuer-only process (ROLE=issuer) starts and we time it to pending = 0.
import type { Redis } from "ioredis";
import { dropKeys, type Bench } from "../lib/bench";
import { adminClient, dropEvent, verify } from "../lib/checks";
import { enterThenIssue, newOutcomes } from "../lib/flows";
import { hammer } from "../lib/load";
import { startProbe } from "../lib/probes";
import { startServer } from "../lib/procs";
import type { Run, ScenarioResult } from "../lib/report";
import { Users } from "../lib/users";

const DRAIN_TIMEOUT_MS = 10 * 60_000;

/** Samples the stream length every few ms: the timeline the drain numbers are read from. */
function sampleStream(redis: Redis, stream: string) {
  const points: { t: number; len: number }[] = [];
  let on = true;
  const done = (async () => {
    while (on) {
      points.push({ t: Date.now(), len: await redis.xlen(stream) });
      await Bun.sleep(5);
    }
  })();
  return {
    points,
    /** resolves once the stream is empty at or after `since` (ms since epoch) */
    async emptyAfter(since: number): Promise<number> {
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      for (;;) {
        const p = points.find((x) => x.t >= since && x.len === 0);
        if (p) return p.t;
        if (Date.now() > deadline) throw new Error(`stream ${stream} not empty after ${DRAIN_TIMEOUT_MS} ms`);
        await Bun.sleep(20);
      }
    },
    async stop() {
      on = false;
      await done;
    },
  };
}

/** Sells the event out: distinct users enter + issue until the first 410. */
async function sellOut(b: Bench, url: string, eventId: number, stock: number) {
  const { connections } = b.sizes.drain;
  const users = new Users(b.env.jwtSecret, `s${eventId}`).prepare(stock + 2 * connections + 1000);
  const out = newOutcomes();
  let stop = () => {};
  const steps = enterThenIssue(eventId, users, out, () => stop());
  const load = await hammer({ url, connections, durationS: DRAIN_TIMEOUT_MS / 1000, steps, onStart: (s) => (stop = s) });
  return { out, load };
}

async function lastIssuedAt(b: Bench, eventId: number): Promise<number> {
  const [[r]] = (await b.db.query("SELECT MAX(issued_at) AS t FROM coupon_issues WHERE event_id = ?", [eventId])) as [{ t: Date | null }[], unknown];
  return r?.t ? r.t.getTime() : 0;
}

async function liveRun(b: Bench): Promise<Run> {
  const stock = b.sizes.drain.liveStock;
  const prefix = b.prefix("drain-live");
  const server = await startServer("drain-live", { ...b.env, prefix });
  const sampler = b.redis.duplicate();
  let eventId = 0;
  try {
    const admin = adminClient(server.url, b.env.adminToken);
    eventId = (await admin.createEvent({ name: "bench drain live", stock, trafficRpm: 1_000_000_000, runningCapacity: 10_000_000 })).id;
    const stream = sampleStream(sampler, `${prefix}:{${eventId}}:stream`);
    const probe = await startProbe(b.redis, b.db, { server: server.pid }, prefix);
    const { out, load } = await sellOut(b, server.url, eventId, stock);
    const loadEnd = Date.now();
    const verdict = await verify(b.db, admin, eventId, stock, out.promised, out.inFlight, { exactRedisView: true, statuses: load.all.statuses, expectSoldOut: true });
    const soldOutAt = await lastIssuedAt(b, eventId);
    const emptyAt = await stream.emptyAfter(soldOutAt);
    await stream.stop();
    const profile = await probe.stop();
    return {
      label: "live",
      load,
      verdict,
      profile,
      extra: {
        stock,
        lagMs: emptyAt - soldOutAt,
        "max pending during the sale": Math.max(...stream.points.map((p) => p.len)),
        "load stopped after sold-out (ms)": loadEnd - soldOutAt,
      },
    };
  } finally {
    sampler.disconnect();
    await server.stop();
    await dropKeys(b.redis, `${prefix}:*`);
    if (eventId) await dropEvent(b.db, eventId);
  }
}

async function backlogRun(b: Bench): Promise<Run> {
  const { backlog: stock, issuerBatch } = b.sizes.drain;
  const prefix = b.prefix("drain-backlog");
  // this server stays up (idle) after the sale to answer the admin stats the check reads
  const front = await startServer("drain-front", { ...b.env, prefix }, { ISSUER: "off" });
  const sampler = b.redis.duplicate();
  let issuer: Awaited<ReturnType<typeof startServer>> | null = null;
  let eventId = 0;
  try {
    const admin = adminClient(front.url, b.env.adminToken);
    eventId = (await admin.createEvent({ name: "bench drain backlog", stock, trafficRpm: 1_000_000_000, runningCapacity: 10_000_000 })).id;
    const key = `${prefix}:{${eventId}}:stream`;
    const sale = await sellOut(b, front.url, eventId, stock);
    const backlog = await sampler.xlen(key);

    const stream = sampleStream(sampler, key);
    const probe = await startProbe(b.redis, b.db, {}, prefix);
    const spawnedAt = Date.now();
    issuer = await startServer("drain-issuer", { ...b.env, prefix }, { ROLE: "issuer", ...(issuerBatch ? { ISSUER_BATCH_SIZE: issuerBatch } : {}) });
    probe.track("issuer", issuer.pid);
    const emptyAt = await stream.emptyAfter(spawnedAt);
    await stream.stop();
    const profile = await probe.stop();
    // from the first acknowledged batch to empty: the issuer's steady rate, start-up excluded
    const first = stream.points.find((p) => p.t >= spawnedAt && p.len < backlog) ?? { t: emptyAt, len: 0 };
    const verdict = await verify(b.db, admin, eventId, stock, sale.out.promised, sale.out.inFlight, { exactRedisView: true, statuses: sale.load.all.statuses, expectSoldOut: true });
    return {
      label: "backlog",
      load: sale.load,
      verdict,
      profile,
      unit: { name: "persisted row", count: backlog },
      extra: {
        "load table": "the sale that built the backlog (issuer off)",
        backlog,
        issuerBatch: issuerBatch ?? "default (500)",
        rowsPerS: first.len / Math.max(0.001, (emptyAt - first.t) / 1000),
        "spawn → first batch acked (ms)": first.t - spawnedAt,
        "spawn → pending 0 (ms)": emptyAt - spawnedAt,
      },
    };
  } finally {
    sampler.disconnect();
    await issuer?.stop();
    await front.stop();
    await dropKeys(b.redis, `${prefix}:*`);
    if (eventId) await dropEvent(b.db, eventId);
  }
}

export async function drain(b: Bench): Promise<ScenarioResult> {
  const runs = [await liveRun(b), await backlogRun(b)];
  const failures = runs.flatMap((r) => (r.verdict?.ok ? [] : r.verdict!.failures.map((f) => `${r.label}: ${f}`)));
  const d = b.sizes.drain;
  return {
    name: "drain",
    title: "drain — issuer throughput into MariaDB and lag after sell-out",
    ok: !failures.length,
    failures,
    params: { connections: d.connections, liveStock: d.liveStock, backlog: d.backlog, issuerBatch: d.issuerBatch ?? "default (500)" },
    runs,
  };
}
