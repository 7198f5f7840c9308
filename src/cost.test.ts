// No request without a token may cost MySQL work of its own: unknown event ids are answered from
// Redis and memory, and /metrics reads its per-event numbers at most every few seconds.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mysqlConn, pool, startServer, stopServer, token, type Started } from "../scripts/testkit";

setDefaultTimeout(120_000);

let s: Started, guarded: Started;
const db = mysqlConn();
let statements = 0;

beforeAll(async () => {
  s = await startServer();
  guarded = await startServer({ METRICS_TOKEN: "scrape-token-123" });
  // count every statement this server sends to MySQL: on the pool, and on connections taken from it (transactions)
  type Queryable = Record<"query" | "execute", (...a: unknown[]) => unknown>;
  const counted = new WeakSet<object>();
  const count = (target: Queryable) => {
    if (counted.has(target)) return target;
    counted.add(target);
    for (const m of ["query", "execute"] as const) {
      const real = target[m].bind(target);
      target[m] = (...a: unknown[]) => {
        statements++;
        return real(...a);
      };
    }
    return target;
  };
  const pool = count(s.mysql!.pool as unknown as Queryable) as Queryable & { getConnection: () => Promise<Queryable> };
  const getConnection = pool.getConnection.bind(pool);
  pool.getConnection = async () => count(await getConnection());
});
afterAll(async () => {
  await stopServer(s);
  await stopServer(guarded);
  await db.end();
});

/** Statements sent while `fn` runs, and how many seconds it took. */
async function counting(fn: () => Promise<unknown>) {
  const before = statements;
  const t0 = performance.now();
  await fn();
  return { statements: statements - before, seconds: (performance.now() - t0) / 1000 };
}

describe("unknown event ids", () => {
  test("2,000 requests for unknown ids (above every event, and a gap below) cost next to no MySQL statements", async () => {
    const first = (await s.api.createEvent({ name: "below the gap", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    // an id that names no event below the highest one: made, then gone from MySQL and Redis alike
    const gap = (await s.api.createEvent({ name: "the gap", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    await db.query("DELETE FROM coupon_events WHERE id = ?", [gap]);
    await s.redis.del(`${s.prefix}:{${gap}}:meta`);
    await s.redis.srem(`${s.prefix}:events`, String(gap));
    const last = (await s.api.createEvent({ name: "above the gap", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    expect(first < gap && gap < last).toBe(true);

    // the counter sees the statements an id costs when it is looked up for real
    expect((await counting(() => s.api.stats(last))).statements).toBeGreaterThan(0);

    const ids = Array.from({ length: 2000 }, (_, i) => (i % 4 === 0 ? gap : last + 1 + ((i * 7919) % 1_000_000)));
    const t = await counting(() =>
      pool(ids, 50, async (id, i) => {
        const r = i % 10 === 1 ? await s.api.call("GET", `/api/events/${id}/coupon`, { token: token(`cost-${i}`) }) : await s.api.call("GET", `/api/events/${id}`);
        expect(r.status).toBe(404);
      }),
    );
    console.log(`2,000 unknown-id requests: ${t.statements} MySQL statements in ${t.seconds.toFixed(1)} s`);
    // at most one highest-id read a second and one look at the gap every few seconds, however many requests
    expect(t.statements).toBeLessThanOrEqual(2 * Math.ceil(t.seconds) + 8);
    // a real event is still found, and one created meanwhile at once
    expect((await s.api.call("GET", `/api/events/${last}`)).status).toBe(200);
    const next = (await s.api.createEvent({ name: "just made", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    expect((await s.api.call("GET", `/api/events/${next}`)).status).toBe(200);
  });

  test("an event that Redis lost is still rebuilt from MySQL", async () => {
    const id = (await s.api.createEvent({ name: "lost", stock: 7, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    await s.redis.del(`${s.prefix}:{${id}}:meta`);
    const r = await s.api.call("GET", `/api/events/${id}`);
    expect(r).toMatchObject({ status: 200, body: { id, stock: 7, remaining: 7 } });
  });
});

describe("/metrics", () => {
  test("scrapes share one per-event read every few seconds instead of a COUNT per event each", async () => {
    for (let i = 0; i < 5; i++) await s.api.createEvent({ name: `metrics ${i}`, stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 });
    const events = (await s.redis.smembers(`${s.prefix}:events`)).length;
    const scrape = async () => {
      const r = await fetch(`${s.url}/metrics`);
      expect(r.status).toBe(200);
      return r.text();
    };
    expect(await scrape()).toMatch(/coupon_event_persisted\{event_id="\d+"\}/);
    const t = await counting(() => Promise.all(Array.from({ length: 40 }, () => scrape())));
    const t2 = await counting(async () => {
      for (let i = 0; i < 40; i++) await scrape();
    });
    console.log(`${events} events, 80 scrapes: ${t.statements + t2.statements} MySQL statements in ${(t.seconds + t2.seconds).toFixed(1)} s`);
    // at most one read per event per refresh (one refresh every few seconds, one more at the start)
    expect(t.statements + t2.statements).toBeLessThanOrEqual(events * (Math.ceil((t.seconds + t2.seconds) / 5) + 1));
    // the numbers are refreshed, not kept forever: a scrape after the refresh interval reads them again
    await Bun.sleep(5100);
    expect((await counting(scrape)).statements).toBeGreaterThanOrEqual(1);
  });

  test("METRICS_TOKEN: without it (or with another token) /metrics is a 401", async () => {
    expect((await fetch(`${guarded.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${guarded.url}/metrics`, { headers: { authorization: "Bearer scrape-token-124" } });
    expect([wrong.status, await wrong.json()]).toEqual([401, { error: "unauthorized", message: "metrics token required" }]);
    const ok = await fetch(`${guarded.url}/metrics`, { headers: { authorization: "Bearer scrape-token-123" } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("coupon_http_requests_total");
  });
});
