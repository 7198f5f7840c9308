import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { join } from "node:path";
import { defineScripts, eventKeys, runScript } from "../../src/redis";
import { dropKeys, startServer, stopServer, TEST_REDIS, token, waitFor, type Started } from "../../scripts/testkit";
import { RateMeter } from "./rate";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const prefix = `rt${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const connections: Redis[] = [];

/** A separate Redis connection with the router's scripts, as a second router process would have. */
function routerRedis() {
  const r = new Redis(TEST_REDIS);
  defineScripts(r, import.meta.dir);
  connections.push(r);
  return r;
}

afterAll(async () => {
  for (const r of connections) r.disconnect();
  await dropKeys(TEST_REDIS, prefix);
});

describe("rate-1.lua: a sliding 60 s window over per-second buckets", () => {
  // S is a whole second; every scenario uses its own event key, so buckets never leak between them
  const S = 1_700_000_000;
  let rate: (event: number, nowMs: number, add: number) => Promise<number>;
  beforeAll(() => {
    const script = runScript(routerRedis(), "rate");
    rate = async (event, nowMs, add) => Number(await script(eventKeys(prefix, event).rate, nowMs, add));
  });

  test("the current bucket is counted once, however often it is read or added to", async () => {
    expect(await rate(1, S * 1000 + 100, 3)).toBe(3);
    expect(await rate(1, S * 1000 + 200, 0)).toBe(3);
    expect(await rate(1, S * 1000 + 300, 0)).toBe(3);
    expect(await rate(1, S * 1000 + 400, 2)).toBe(5);
    expect(await rate(1, S * 1000 + 999, 0)).toBe(5);
  });

  test("whole seconds inside the window count fully; the bucket sliding out counts for the part still inside", async () => {
    expect(await rate(2, (S - 60) * 1000 + 10, 10)).toBe(10); // will be sliding out at second S
    expect(await rate(2, (S - 30) * 1000 + 123, 7)).toBe(17);
    expect(await rate(2, (S - 1) * 1000 + 999, 0)).toBe(17); // second S-60 is still a whole second of the window
    expect(await rate(2, S * 1000, 0)).toBe(17); // window starts exactly at S-60: all of it
    expect(await rate(2, S * 1000 + 500, 3)).toBe(5 + 7 + 3); // half of S-60 is left in the window
    expect(await rate(2, S * 1000 + 900, 0)).toBe(1 + 7 + 3);
    expect(await rate(2, (S + 1) * 1000, 0)).toBe(7 + 3); // S-60 has slid out completely
    expect(await rate(2, (S + 30) * 1000 + 500, 0)).toBe(7); // half of S-30 is left: 3.5 + 3, rounded
    expect(await rate(2, (S + 61) * 1000, 0)).toBe(0);
  });

  test("buckets older than the window never count, and requests in the past minute but not this second do", async () => {
    await rate(3, (S - 61) * 1000 + 500, 100);
    await rate(3, (S - 59) * 1000 + 500, 4);
    expect(await rate(3, S * 1000 + 999, 0)).toBe(4);
  });

  test("old buckets are deleted even when traffic comes in gaps longer than a few seconds", async () => {
    const key = eventKeys(prefix, 4).rate;
    for (let t = 0; t <= 400; t += 5) await rate(4, (S + t) * 1000, 1);
    expect(await connections[0]!.hlen(key)).toBeLessThanOrEqual(61);
    // 13 adds (t = 340..400) are inside the window ending at S+400; t=340 is the bucket sliding out, whole at .000
    expect(await rate(4, (S + 400) * 1000, 0)).toBe(13);
    expect(await connections[0]!.pttl(key)).toBeGreaterThan(0);
  });
});

describe("RateMeter", () => {
  test("a burst of first requests reads the shared rate once and each request sees the ones before it", async () => {
    const r = routerRedis();
    let calls = 0;
    const counting = new Proxy(r, {
      get(target, p, recv) {
        const v = Reflect.get(target, p, recv);
        if (p !== "rate" || typeof v !== "function") return v;
        return (...args: unknown[]) => {
          calls++;
          return v.apply(target, args);
        };
      },
    });
    const meter = new RateMeter(counting, prefix, 5000);
    const seen = await Promise.all(Array.from({ length: 500 }, () => meter.hit(10)));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(calls).toBe(1);
  });

  test("requests counted during a flush in flight are never missing from the rate", async () => {
    const meter = new RateMeter(routerRedis(), prefix, 20);
    meter.start();
    const wrong: { hit: number; saw: number }[] = [];
    let hits = 0;
    try {
      // about 20 flushes; yielding to timers and I/O lets them start and finish between (and during) hits
      for (const end = Date.now() + 400; Date.now() < end; hits++) {
        const saw = await meter.hit(11);
        if (saw !== hits) wrong.push({ hit: hits, saw });
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      meter.stop();
    }
    expect(hits).toBeGreaterThan(100);
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  test("two routers (two meters on two connections) both see the combined rate", async () => {
    const a = new RateMeter(routerRedis(), prefix, 30);
    const b = new RateMeter(routerRedis(), prefix, 30);
    a.start();
    b.start();
    try {
      for (let i = 0; i < 30; i++) await a.hit(12);
      for (let i = 0; i < 20; i++) await b.hit(12);
      // every hit returns the count of all earlier requests once the other router's counts are flushed
      let total = 50;
      await waitFor("router a sees router b's requests", async () => (await a.hit(12)) === total++, 10_000, 20);
      await waitFor("router b sees router a's requests", async () => (await b.hit(12)) === total++, 10_000, 20);
    } finally {
      a.stop();
      b.stop();
    }
  });
});

describe("POST /api/events/:id/enter", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off" });
  });
  afterAll(() => stopServer(s));

  test("answers the contract's codes for every outcome", async () => {
    const id = (await s.api.createEvent({ name: "codes", stock: 2, trafficRpm: 1000, runningCapacity: 10 })).body.id as number;
    const unauth = await s.api.call("POST", `/api/events/${id}/enter`);
    expect(unauth.status).toBe(401);
    expect(unauth.body.error).toBe("unauthorized");
    const expired = await s.api.call("POST", `/api/events/${id}/enter`, { token: token("late", -10) });
    expect(expired.status).toBe(401);
    expect((await s.api.enter(999_999_999, "u")).body.error).toBe("event_not_found");
    expect((await s.api.call("POST", "/api/events/abc/enter", { token: token("u") })).status).toBe(404);

    const ok = await s.api.enter(id, "first");
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe("admitted");
    expect(Date.parse(ok.body.expiresAt)).toBeGreaterThan(Date.now());
    expect((await s.api.issue(id, "first")).status).toBe(201);
    const again = await s.api.enter(id, "first");
    expect(again.status).toBe(409);
    expect(again.body.error).toBe("already_issued");
    expect((await s.api.enter(id, "second")).status).toBe(200);
    expect((await s.api.issue(id, "second")).status).toBe(201);
    // once sold out, the router's view answers every enter alike (whoever holds a coupon asks GET …/coupon)
    const late = await s.api.enter(id, "third");
    expect(late.status).toBe(410);
    expect(late.body.error).toBe("sold_out");

    const later = new Date(Date.now() + 3600_000).toISOString();
    const id2 = (await s.api.createEvent({ name: "later", stock: 5, trafficRpm: 1000, runningCapacity: 10, startsAt: later })).body.id;
    const early = await s.api.enter(id2, "u");
    expect(early.status).toBe(409);
    expect(early.body.error).toBe("not_open");
  });

  test("every enter request counts towards the event's measured rate", async () => {
    const id = (await s.api.createEvent({ name: "rate", stock: 100, trafficRpm: 1_000_000, runningCapacity: 100 })).body.id as number;
    for (let i = 0; i < 7; i++) await s.api.enter(id, `r${i}`);
    const key = eventKeys(s.prefix, id).rate;
    await waitFor("the router's counts reach Redis", async () => {
      const buckets = Object.values(await s.redis.hgetall(key)).map(Number);
      return buckets.reduce((a, b) => a + b, 0) === 7;
    });
  });
});
