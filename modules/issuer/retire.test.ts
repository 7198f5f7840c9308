// Ended events leave the live set (issue #21: `cp:events` held every event ever created, and every
// scheduler tick, issuer loop, history sample and metrics scrape walked them all), once everything
// they issued is stored — and whatever still needs them by id keeps working. Real Redis and MariaDB.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { ADMIN_TOKEN, metricValue, startServer, stopServer, TEST_REDIS, token, waitFor, type Started } from "../../scripts/testkit";
import { eventKeys, globalKeys } from "../../src/redis";
import { Retirement } from "./retire";
import { GROUP } from "./service";

setDefaultTimeout(300_000);

let s: Started;
const redis = new Redis(TEST_REDIS);
const run = Date.now().toString(36);
beforeAll(async () => {
  s = await startServer({ RATE_LIMIT_USER_PER_SEC: "0", RATE_LIMIT_IP_PER_SEC: "0" });
});
afterAll(async () => {
  await stopServer(s);
  redis.disconnect();
});

const live = async (id: number) => (await redis.sismember(globalKeys(s.prefix).events, String(id))) === 1;
const create = async (body: Record<string, unknown>) => {
  const r = await s.api.createEvent({ trafficRpm: 1_000_000, runningCapacity: 100, ...body });
  expect(r.status).toBe(201);
  return r.body.id as number;
};
const persistedGauge = (id: number) => metricValue(s.url, "coupon_event_persisted", { event_id: id });
const admin = (method: string, path: string, body?: unknown) => s.api.call(method, path, { token: ADMIN_TOKEN, body });
const win = async (id: number, user: string) => {
  await s.api.enter(id, user);
  const r = await s.api.issue(id, user);
  expect(r.status).toBe(201);
  return r.body.code as string;
};

describe("ended events leave the live set", () => {
  test("sold out, closed, cancelled and past their end leave it once stored; open ones and ones with dead letters stay; stats, winners, my coupons and restore still work", async () => {
    const soldOut = await create({ name: "sold out", stock: 2 });
    const codes = [await win(soldOut, `r-${run}-a`), await win(soldOut, `r-${run}-b`)];
    const closed = await create({ name: "closed", stock: 5 });
    await win(closed, `r-${run}-c`);
    expect((await admin("POST", `/admin/events/${closed}/close`)).status).toBe(200);
    const cancelled = await create({ name: "cancelled", stock: 5, startsAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await admin("DELETE", `/admin/events/${cancelled}`)).body.status).toBe("cancelled");
    const past = await create({ name: "past its end", stock: 5, startsAt: new Date(Date.now() - 10_000).toISOString() });
    expect((await s.api.patch(past, { endsAt: new Date(Date.now() - 1000).toISOString() })).body.status).toBe("closed");
    const open = await create({ name: "open", stock: 5 });
    const dead = await create({ name: "closed with a dead letter", stock: 5 });
    await redis.xadd(eventKeys(s.prefix, dead).dead, "*", "e", String(dead), "u", `r-${run}-dead`, "c", "DEAD-CODE", "t", String(Date.now()), "reason", "test");
    expect((await admin("POST", `/admin/events/${dead}/close`)).status).toBe(200);

    const ended = [soldOut, closed, cancelled, past];
    // a dashboard scraping meanwhile (as Prometheus does every few seconds) sees the sale
    await waitFor("the sale in /metrics", async () => (await persistedGauge(soldOut)) === 2, 30_000, 250);
    await waitFor("the ended events to leave the live set", async () => (await Promise.all(ended.map(live))).every((l) => !l), 60_000, 250);
    expect([await live(open), await live(dead)]).toEqual([true, true]);

    // what reads them by id still works; /metrics keeps showing how it ended for its retention (it vanished
    // from the dashboards seconds after the sell-out when the live set was all the metrics looked at)
    await Bun.sleep(2500);
    expect(await persistedGauge(soldOut)).toBe(2);
    const stats = await s.api.stats(soldOut);
    expect(stats.body).toMatchObject({ status: "sold_out", issued: 2, persisted: 2, pending: 0 });
    const winners = await admin("GET", `/admin/events/${soldOut}/issues`);
    expect(winners.body.issues.map((w: { code: string }) => w.code).sort()).toEqual([...codes].sort());
    const mine = await s.api.call("GET", "/api/me/coupons", { token: token(`r-${run}-a`) });
    expect(mine.body.coupons.map((c: { code: string }) => c.code)).toContain(codes[0]);
    expect((await s.api.coupon(soldOut, `r-${run}-b`)).body).toMatchObject({ issued: true, code: codes[1] });
    expect((await s.api.call("GET", `/api/events/${soldOut}`)).body.status).toBe("sold_out");
    // restore reconciles it (back in the set), and it leaves again
    expect((await admin("POST", `/admin/events/${soldOut}/restore`)).status).toBe(200);
    expect(await live(soldOut)).toBe(true);
    await waitFor("the restored event to leave again", async () => !(await live(soldOut)), 60_000, 250);
  });

  test("an ended event that sells again comes back and its coupons are stored: more stock, a later end, a grant after the close", async () => {
    const soldOut = await create({ name: "more stock", stock: 1 });
    await win(soldOut, `m-${run}-a`);
    const past = await create({ name: "a later end", stock: 5, startsAt: new Date(Date.now() - 10_000).toISOString() });
    await s.api.patch(past, { endsAt: new Date(Date.now() - 1000).toISOString() });
    const closed = await create({ name: "a grant after the close", stock: 5 });
    expect((await admin("POST", `/admin/events/${closed}/close`)).status).toBe(200);
    await waitFor("all three to leave the live set", async () => !(await live(soldOut)) && !(await live(past)) && !(await live(closed)), 60_000, 250);

    expect((await s.api.patch(soldOut, { stock: 2 })).body.status).toBe("open");
    expect(await live(soldOut)).toBe(true);
    await win(soldOut, `m-${run}-b`);
    expect((await s.api.patch(past, { endsAt: null })).body.status).toBe("open");
    expect(await live(past)).toBe(true);
    await win(past, `m-${run}-c`);
    const granted = await admin("POST", `/admin/events/${closed}/grants`, { userId: `m-${run}-d`, reason: "make good" });
    expect(granted.status).toBe(201);
    expect(await live(closed)).toBe(true);

    // stored, then (ended again where they ended) out of the set again
    await waitFor("every coupon stored", async () => {
      const st = await Promise.all([soldOut, past, closed].map(async (id) => (await s.api.stats(id)).body));
      return st[0].persisted === 2 && st[1].persisted === 1 && st[2].persisted === 1;
    });
    await waitFor("the sold-out and the closed event to leave again", async () => !(await live(soldOut)) && !(await live(closed)), 60_000, 250);
    expect(await live(past)).toBe(true);
  });

  test("never while something it issued is unstored: unread, pending in the group, or held by an issuer", async () => {
    // a server of its own without an issuer: nothing is stored unless the test does it
    const q = await startServer({ ISSUER: "off", RATE_LIMIT_USER_PER_SEC: "0" });
    try {
      const id = (await q.api.createEvent({ name: "unstored", stock: 1, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
      await q.api.enter(id, `u-${run}`);
      expect((await q.api.issue(id, `u-${run}`)).status).toBe(201);
      expect((await q.api.stats(id)).body.status).toBe("sold_out");
      const k = eventKeys(q.prefix, id);
      const retirement = new Retirement(q.redis, q.prefix, GROUP);
      const inSet = async () => (await redis.sismember(globalKeys(q.prefix).events, String(id))) === 1;
      // unread (no group yet, then a group that has not read it)
      expect(await retirement.sweep([id])).toEqual([]);
      await redis.xgroup("CREATE", k.stream, GROUP, "0");
      expect(await retirement.sweep([id])).toEqual([]);
      // read, not acknowledged
      const read = (await redis.xreadgroup("GROUP", GROUP, "test", "COUNT", 10, "STREAMS", k.stream, ">")) as [string, [string, string[]][]][];
      const entry = read[0]![1][0]![0];
      expect(await retirement.sweep([id])).toEqual([]);
      // acknowledged, but an issuer announces it holds a batch of the event
      await redis.xack(k.stream, GROUP, entry);
      await redis.hset(k.holders, "other-issuer", `0:${Date.now() + 60_000}`);
      expect(await retirement.sweep([id])).toEqual([]);
      expect(await inSet()).toBe(true);
      // a holder whose announcement lapsed (a dead issuer) holds nothing back
      await redis.hset(k.holders, "other-issuer", `0:${Date.now() - 1}`);
      expect(await retirement.sweep([id])).toEqual([id]);
      expect(await inSet()).toBe(false);
    } finally {
      await stopServer(q);
    }
  });
});
