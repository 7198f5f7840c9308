// Invariant 8 (issue #19, finding 1): MySQL down, then Redis restarts empty, then MySQL back. The
// issuer keeps every batch it read in memory and announces it, so the rebuilt event never sells a
// unit already promised, and every promise gets its row.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { eventKeys } from "../../src/redis";
import { checkInvariants, client, cuttableProxy, mysqlConn, NO_USER_LIMITS, spawnServer, startServer, stopServer, waitFor, type Proc } from "../../scripts/testkit";
import { ownRedis } from "../../scripts/redis-server";
import { newCode } from "../coupon/code";
import { DUPLICATE_USER, GROUP } from "./service";

setDefaultTimeout(180_000);

const db = mysqlConn();
const procs: Proc[] = [];
const redis = ownRedis("none");
const proxy = cuttableProxy(3306);
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill("SIGKILL")));
  await redis.stop();
  proxy.stop();
  await db.end();
});

type Api = ReturnType<typeof client>;
/** Tries until a final answer: 201, or a refusal that will not change (sold out, already issued). */
async function take(api: Api, id: number, user: string, untilMs = 60_000): Promise<number> {
  const end = Date.now() + untilMs;
  while (Date.now() < end) {
    const e = await api.enter(id, user);
    if (e.status === 410 || e.status === 409) return e.status;
    if (e.status === 200) {
      const r = await api.issue(id, user);
      if (r.status === 201 || r.status === 410 || r.status === 409) return r.status;
    }
    await Bun.sleep(200);
  }
  return 0;
}

describe("invariant 8: a promise an issuer has read is never lost nor sold twice", () => {
  test("MySQL cut, Redis restarted empty, MySQL back: rows = promises ≤ stock, nobody's unit sold again", async () => {
    await redis.start();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: "held", DATABASE_URL: proxy.url(), ...NO_USER_LIMITS };
    const server = await spawnServer({ ...env, ROLE: "router,queue,coupon" });
    procs.push(server);
    procs.push(await spawnServer({ ...env, ROLE: "issuer", ISSUER_CONSUMER: "held-1" }));
    const api = client(server.url);
    const stock = 300;
    const id = (await api.createEvent({ name: "held", stock, trafficRpm: 1_000_000_000, runningCapacity: 100_000 })).body.id as number;
    const users = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}-${id}-${i}`);
    const rush = async (list: string[]) => (await Promise.all(list.map(async (u) => [u, await take(api, id, u)] as const))).filter(([, s]) => s === 201).map(([u]) => u);

    const first = await rush(users("a", 100));
    await waitFor("the first 100 persisted", async () => (await api.stats(id)).body.persisted === 100);
    proxy.cut();
    const second = await rush(users("b", 150));
    expect(second.length).toBe(150);
    // the issuer has read all of them (pending in its group) and cannot store them
    const r = new Redis(redis.url);
    await waitFor("read by the issuer", async () => Number(((await r.xpending(`held:{${id}}:stream`, GROUP)) as [number])[0]) === 150, 30_000);
    r.disconnect();
    await redis.restartEmpty();
    await Bun.sleep(3000);
    proxy.restore();
    const third = await rush(users("c", 400));
    const promised = [...first, ...second, ...third];
    console.log(`promised ${first.length} + ${second.length} held through the outage + ${third.length} after the rebuild = ${promised.length} for stock ${stock}`);
    expect(promised.length).toBe(stock);
    await waitFor("drained", async () => {
      const st = (await api.stats(id)).body;
      return st.pending === 0 && st.persisted === stock;
    }, 90_000, 250);
    const inv = await checkInvariants(db, id, stock, promised);
    expect(inv).toEqual({ rows: stock, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    expect((await api.stats(id)).body.dead).toBe(0);
  });
});

describe("a second promise for a stored user", () => {
  test("is dead-lettered as duplicate_user (counted), never dropped silently; the same promise again is settled quietly", async () => {
    const s = await startServer(NO_USER_LIMITS);
    try {
      const id = (await s.api.createEvent({ name: "dup", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
      await s.api.enter(id, "twice");
      const code = (await s.api.issue(id, "twice")).body.code as string;
      await waitFor("persisted", async () => (await s.api.stats(id)).body.persisted === 1);
      const k = eventKeys(s.prefix, id);
      // what a Redis that lost the user's issued entry would append: another code for the same user
      await s.redis.xadd(k.stream, "*", "e", String(id), "u", "twice", "t", String(Date.now()), "c", newCode(), "ep", "0");
      // and a redelivery of the very same promise
      await s.redis.xadd(k.stream, "*", "e", String(id), "u", "twice", "t", String(Date.now()), "c", code, "ep", "0");
      await waitFor("dead-lettered", async () => (await s.redis.xlen(k.dead)) === 1 && (await s.api.stats(id)).body.pending === 0);
      const fields = ((await s.redis.xrange(k.dead, "-", "+")) as [string, string[]][])[0]![1];
      expect(fields[fields.indexOf("reason") + 1]).toBe(DUPLICATE_USER);
      expect(await s.metrics.registry.getSingleMetricAsString("coupon_issuer_dead_lettered_total")).toContain('reason="duplicate_user"} 1');
      const [rows] = (await db.query("SELECT code FROM coupon_issues WHERE event_id = ?", [id])) as [{ code: string }[], unknown];
      expect(rows).toEqual([{ code }]);
    } finally {
      await stopServer(s);
    }
  });
});
