// A Redis that comes back stale or empty never over-issues (contract invariant 7): each way it can
// happen is reproduced against real Redis and MariaDB — the lost last second with a reconnect, a
// half-written meta hash, an issuer batch read before a wipe and stored after the rebuild — and
// MySQL's own stock bound is shown to hold whatever Redis says.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Mysql } from "../../src/db";
import { createRedis, eventKeys, globalKeys, type RedisClient } from "../../src/redis";
import { checkInvariants, mysqlConn, NO_USER_LIMITS, spawnServer, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { GROUP, IssuerService, OVER_STOCK } from "../issuer/service";

setDefaultTimeout(120_000);

const db = mysqlConn();
const servers: Started[] = [];
const clients: RedisClient[] = [];
afterAll(async () => {
  for (const s of servers) await stopServer(s).catch(() => {});
  for (const c of clients) c.disconnect();
  await db.end();
});

async function server(env: Record<string, string> = {}) {
  const s = await startServer({ ...NO_USER_LIMITS, ...env });
  servers.push(s);
  return s;
}

async function event(s: Started, stock: number, extra: Record<string, unknown> = {}) {
  const r = await s.api.createEvent({ name: "reconcile", stock, trafficRpm: 1_000_000_000, runningCapacity: 100_000, ...extra });
  expect(r.status).toBe(201);
  return r.body.id as number;
}

/** enter then issue; the issue's status (or the enter's when it did not admit). */
async function take(s: Started, id: number, user: string): Promise<number> {
  const e = await s.api.enter(id, user);
  if (e.status !== 200) return e.status;
  return (await s.api.issue(id, user)).status;
}

/** Drops the process's own Redis connections (as a Redis restart would) and waits until they are back. */
async function killConnections(s: Started) {
  const conns = [s.redis, s.issueRedis].filter((c): c is RedisClient => !!c);
  const ids = await Promise.all(conns.map((c) => c.client("ID")));
  const back = conns.map((c) => new Promise((ok) => c.once("ready", ok)));
  const admin = createRedis(s.config, "test-admin");
  clients.push(admin);
  for (const id of ids) await admin.client("KILL", "ID", String(id));
  await Promise.all(back);
}

const rows = async (id: number) => ((await db.query("SELECT COUNT(*) AS n FROM coupon_issues WHERE event_id = ?", [id])) as any)[0][0].n as number;

describe("reconciling Redis with MySQL", () => {
  test("the lost last second: after the reconnect the event is reconciled before it sells again (stock 4 stays 4)", async () => {
    const s = await server({ RECONCILE_FENCE_MS: "500" });
    const id = await event(s, 4);
    expect(await take(s, id, "a")).toBe(201);
    expect(await take(s, id, "b")).toBe(201);
    await waitFor("a and b persisted", async () => (await rows(id)) === 2);
    // what appendfsync everysec allows on a crash: b's issuance is gone from Redis, its unit is back
    const k = eventKeys(s.prefix, id);
    await s.redis.hdel(k.issued, "b");
    await s.redis.hincrby(k.meta, "remaining", 1);
    // a crash and restart: the server's run id is no longer the one recorded
    await s.redis.set(globalKeys(s.prefix).redisRun, "the-crashed-server");
    await killConnections(s);
    const replies = await Promise.all(["c", "d", "e"].map((u) => take(s, id, u)));
    expect(replies.sort()).toEqual([201, 201, 410]);
    // b is known again: a second coupon for b is refused (enter on a sold-out event is a 410 for
    // everyone, from the router's view; the issue script names the reason)
    expect((await s.api.issue(id, "b")).body.error).toBe("already_issued");
    await waitFor("drained", async () => (await s.api.stats(id)).body.pending === 0);
    const winners = ["a", "b", ...["c", "d", "e"].filter((_, i) => replies[i] === 201)];
    expect(await rows(id)).toBe(4);
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 0, issued: 4, persisted: 4, dead: 0 });
    expect((await checkInvariants(db, id, 4, ["a", "b", "c", "d", "e"])).duplicates).toBe(0);
    expect(winners.length).toBe(4);
  });

  test("a half-written meta hash (no stock) is rebuilt: reads, enters and issues answer, a restart starts", async () => {
    const s = await server();
    const id = await event(s, 10);
    expect(await take(s, id, "first")).toBe(201);
    await waitFor("persisted", async () => (await rows(id)) === 1);
    const k = eventKeys(s.prefix, id);
    // db-lock's post-commit decrement or a PATCH landing on a wiped Redis used to leave exactly this
    await s.redis.del(k.meta);
    await s.redis.hset(k.meta, "remaining", "-1", "trafficRpm", "5");
    // the public GET answers from the router's view, at most a flush old
    await waitFor("view rebuilt", async () => (await s.api.call("GET", `/api/events/${id}`)).body?.remaining === 9);
    expect((await s.api.call("GET", `/api/events/${id}`)).body).toMatchObject({ id, stock: 10, remaining: 9, status: "open" });
    await s.redis.del(k.meta);
    await s.redis.hset(k.meta, "endsAt", "0");
    expect(await take(s, id, "second")).toBe(201);
    expect((await s.api.stats(id)).body).toMatchObject({ stock: 10, remaining: 8, issued: 2, reconcileError: null });

    // a process starting on a Redis with a half-written event and a damaged one starts anyway
    const half = await event(s, 3);
    const bad = await event(s, 3);
    await s.redis.del(eventKeys(s.prefix, half).meta);
    await s.redis.hset(eventKeys(s.prefix, half).meta, "paused", "0");
    const badKeys = eventKeys(s.prefix, bad);
    await s.redis.del(badKeys.issued);
    await s.redis.set(badKeys.issued, "not a hash");
    const p = await spawnServer({ REDIS_KEY_PREFIX: s.prefix, ...NO_USER_LIMITS });
    try {
      const ready = await fetch(`${p.url}/health/ready`).then((r) => r.json() as Promise<any>);
      expect(ready.status).toBe("ready");
      expect(ready.checks.events).toContain(String(bad));
      expect(p.log()).toContain(`reconcile of event ${bad} failed`);
      const other = createApi(p.url);
      expect((await other("GET", `/api/events/${half}`)).body).toMatchObject({ stock: 3, remaining: 3 });
      const st = await other("GET", `/admin/events/${bad}`, true);
      expect(st.status).toBe(200);
      expect(st.body.reconcileError).toContain("WRONGTYPE");
      // the damaged event sells nothing (503, never 500); the others sell
      expect((await other("POST", `/api/events/${bad}/issue`, false, "someone")).status).toBe(503);
      expect((await other("POST", `/api/events/${half}/enter`, false, "h1")).status).toBe(200);
      expect((await other("POST", `/api/events/${half}/issue`, false, "h1")).status).toBe(201);
      // repaired by hand, it is picked up by the next check without a restart
      await s.redis.del(badKeys.issued);
      await waitFor("bad event reconciled", async () => !(await fetch(`${p.url}/health/ready`).then((r) => r.json() as Promise<any>)).checks.events);
      expect((await other("GET", `/admin/events/${bad}`, true)).body.reconcileError).toBeNull();
    } finally {
      await p.kill();
    }
  });

  test("an issuer batch read before a wipe and stored after the rebuild is counted before anyone new is promised (stock 5 stays 5)", async () => {
    // a fence far shorter than the stall: what counts the batch is the issuer's announcement (held.ts)
    const s = await server({ ISSUER: "off", QUEUE_SCHEDULER: "off", RECONCILE_FENCE_MS: "500" });
    const id = await event(s, 5);
    const early = ["x1", "x2", "x3"];
    for (const u of early) expect(await take(s, id, u)).toBe(201);
    // an issuer that reads the batch, then stalls before its transaction until released
    let release!: () => void;
    const released = new Promise<void>((ok) => (release = ok));
    const stalled = { ...s.mysql!, pool: new Proxy(s.mysql!.pool, { get: (t, p) => (p === "getConnection" ? async () => (await released, t.getConnection()) : Reflect.get(t, p)) }) } as Mysql;
    const redis = createRedis(s.config, "stalled-issuer");
    clients.push(redis);
    const issuer = new IssuerService(redis, stalled, s.prefix, async () => [id], { ...s.config.issuer, consumerName: `stalled-${id}` });
    issuer.held.start();
    const drain = issuer.drainOnce();
    const k = eventKeys(s.prefix, id);
    await waitFor("batch read", async () => ((await s.redis.xpending(k.stream, GROUP).catch(() => [0])) as [number])[0] === 3);
    // Redis loses everything about the event while the batch is in the issuer's hands
    await s.redis.del(k.meta, k.issued, k.stream, k.running, k.waiting, k.waitLive);
    // the router's view of the event notices the loss at its next read (within a flush) and has it rebuilt
    await waitFor("the public view rebuilt", async () => typeof (await s.api.call("GET", `/api/events/${id}`)).body.remaining === "number", 5000, 20);
    // five newcomers want the "5 left"; their issues wait for the fence, the stalled batch lands meanwhile
    const late = ["y1", "y2", "y3", "y4", "y5"];
    const replies = Promise.all(late.map((u) => take(s, id, u)));
    await Bun.sleep(2000);
    // the fence is long over: the held batch was put back before anyone new was promised a unit
    expect((await s.api.stats(id)).body.remaining).toBe(0);
    release();
    expect(await drain).toBe(3);
    const statuses = await replies;
    expect(statuses.filter((r) => r === 201).length).toBe(2);
    expect(statuses.filter((r) => r === 410).length).toBe(3);
    // the two newcomers' entries are stored by a normal issuer
    const normal = new IssuerService(redis, s.mysql!, s.prefix, async () => [id], { ...s.config.issuer, consumerName: `normal-${id}` });
    expect(await normal.drainOnce()).toBe(2);
    const winners = [...early, ...late.filter((_, i) => statuses[i] === 201)];
    expect(await checkInvariants(db, id, 5, winners)).toEqual({ rows: 5, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    expect(issuer.stats.overStock + normal.stats.overStock).toBe(0);
    issuer.held.stop();
  });

  test("MySQL holds no more rows than the stock whatever Redis says: the excess is dead-lettered as over_stock", async () => {
    const s = await server({ ISSUER: "off" });
    const id = await event(s, 3);
    const k = eventKeys(s.prefix, id);
    // a Redis that lost its state sold 5 for a stock of 3 (entries written as the issue script would)
    const users = ["o1", "o2", "o3", "o4", "o5"];
    for (const u of users) await s.redis.xadd(k.stream, "*", "e", String(id), "u", u, "t", String(Date.now()), "ep", "0");
    const redis = createRedis(s.config, "over-issuer");
    clients.push(redis);
    const issuer = new IssuerService(redis, s.mysql!, s.prefix, async () => [id], s.config.issuer);
    expect(await issuer.drainOnce()).toBe(5);
    expect(await rows(id)).toBe(3);
    expect(issuer.stats.overStock).toBe(2);
    const dead = (await s.redis.xrange(k.dead, "-", "+")) as [string, string[]][];
    expect(dead.map(([, f]) => f[f.indexOf("reason") + 1])).toEqual([OVER_STOCK, OVER_STOCK]);
    expect(dead.map(([, f]) => f[f.indexOf("u") + 1])).toEqual(["o4", "o5"]);
    // the counter moves with the rows, in their transaction
    const [[ev]] = (await db.query("SELECT persisted, stock FROM coupon_events WHERE id = ?", [id])) as any;
    expect(ev).toEqual({ persisted: 3, stock: 3 });
    // replaying an over_stock letter changes nothing: it is refused again
    await s.api.call("POST", `/admin/events/${id}/dead/${dead[0]![0]}/retry`, { token: "test-admin-token" });
    await issuer.drainOnce();
    expect(await rows(id)).toBe(3);
  });
});

/** A tiny client for a spawned process (user calls carry a fresh token for `user`). */
function createApi(base: string) {
  return async (method: string, path: string, admin = false, user?: string) => {
    const headers: Record<string, string> = {};
    if (admin) headers.authorization = "Bearer test-admin-token";
    if (user) headers.authorization = `Bearer ${token(user)}`;
    const res = await fetch(base + path, { method, headers });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

