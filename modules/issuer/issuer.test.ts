// The issuer under faults: crashed consumers, redeliveries, poison entries, several issuers at once and
// a MySQL that is down. The server runs with ISSUER=off; each test drives its own IssuerService
// instances (own Redis connection, own consumer name, small claim idle time) over one event's stream.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import type { Config } from "../../src/config";
import { connectMysql, type Mysql } from "../../src/db";
import { createRedis, eventKeys, type RedisClient } from "../../src/redis";
import { checkInvariants, cuttableProxy, mysqlConn, pool, startServer, stopServer, TEST_DB, waitFor, type Started } from "../../scripts/testkit";
import { GROUP, IssuerService } from "./service";

// real servers and real drains: far more than the 5 s default on a loaded machine
setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();
const running: IssuerService[] = [];
const conns: RedisClient[] = [];
const brokenPools: Mysql[] = [];

beforeAll(async () => {
  s = await startServer({ ISSUER: "off", QUEUE_SCHEDULER: "off" });
});
afterAll(async () => {
  await Promise.all(running.map((i) => i.stop()));
  conns.forEach((c) => c.disconnect());
  await Promise.all(brokenPools.map((p) => p.close().catch(() => {})));
  await stopServer(s);
  await db.end();
});

/** An issuer of its own over one event, on its own Redis connection. */
function issuer(eventId: number, name: string, opts: Partial<Config["issuer"]> = {}, mysql: Mysql = s.mysql!) {
  const redis = createRedis(s.config, name);
  conns.push(redis);
  const cfg = { ...s.config.issuer, enabled: true, consumerName: name, claimIdleMs: 100, maxDeliveries: 3, batchSize: 500, ...opts };
  const svc = new IssuerService(redis, mysql, s.prefix, async () => [eventId], cfg);
  running.push(svc);
  return svc;
}

async function newEvent(stock: number): Promise<number> {
  const ev = await s.api.createEvent({ name: "issuer test", stock, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 });
  expect(ev.status).toBe(201);
  return ev.body.id;
}

/** Enters and issues `n` users through the HTTP API; all must get their 201. */
async function issueMany(id: number, n: number, tag: string): Promise<string[]> {
  const users = Array.from({ length: n }, (_, i) => `${tag}-${id}-${i}`);
  const replies = await pool(users, 100, async (u) => {
    await s.api.enter(id, u);
    return s.api.issue(id, u);
  });
  expect(replies.map((r) => r.status)).toEqual(users.map(() => 201));
  return users;
}

const stream = (id: number) => eventKeys(s.prefix, id).stream;
const stats = async (id: number) => (await s.api.stats(id)).body;
const rowCount = async (id: number) => ((await db.query("SELECT COUNT(*) AS n FROM coupon_issues WHERE event_id = ?", [id])) as any)[0][0].n as number;
/** The group's pending entries: [id, consumer, idle ms, deliveries]. */
const pendingEntries = async (id: number) => (await s.redis.xpending(stream(id), GROUP, "-", "+", 10_000)) as [string, string, number, number][];
async function drained(id: number) {
  await waitFor("pending = 0", async () => (await stats(id)).pending === 0, 60_000);
}
const clean = { duplicates: 0, overIssue: 0, lost: [], phantom: [] };

/**
 * A pool whose statements fail when `fault(sql, params)` returns an error — on the pool itself and
 * on the connections it hands out (the issuer stores each batch in a transaction on one of those).
 */
function faultyPool(real: Mysql["pool"], fault: (sql: string, params: unknown[]) => Error | null): Mysql["pool"] {
  const query = (target: { query: Function }) => (sql: string, params: unknown[] = []) => {
    const err = fault(sql, params);
    return err ? Promise.reject(err) : target.query(sql, params);
  };
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "query") return query(target);
      if (prop !== "getConnection") return Reflect.get(target, prop);
      return async () => {
        const conn = await target.getConnection();
        return new Proxy(conn, { get: (c, p) => (p === "query" ? query(c) : Reflect.get(c, p)) });
      };
    },
  });
}

describe("issuer", () => {
  test("entries a crashed issuer read but never acked are reclaimed: every 201 has exactly one row", async () => {
    const id = await newEvent(300);
    const users = await issueMany(id, 300, "crash");
    expect(await stats(id)).toMatchObject({ issued: 300, persisted: 0, pending: 300 });

    // "dead-1" reads 120 entries and dies before persisting or acking any of them
    await s.redis.xgroup("CREATE", stream(id), GROUP, "0", "MKSTREAM");
    const read = (await s.redis.xreadgroup("GROUP", GROUP, "dead-1", "COUNT", 120, "STREAMS", stream(id), ">")) as [string, unknown[]][];
    expect(read[0]![1].length).toBe(120);

    const live = issuer(id, "live-1");
    // new entries only: what the dead consumer holds stays pending under its name
    expect(await live.drainOnce()).toBe(180);
    expect(await rowCount(id)).toBe(180);
    const held = await pendingEntries(id);
    expect(held.length).toBe(120);
    expect(new Set(held.map((p) => p[1]))).toEqual(new Set(["dead-1"]));

    live.start();
    await drained(id);
    const inv = await checkInvariants(db, id, 300, users);
    console.log("crash:", { rows: inv.rows, reclaimed: live.stats.reclaimed, stats: await stats(id) });
    expect(inv).toEqual({ rows: 300, ...clean });
    expect(live.stats.reclaimed).toBe(120);
    expect(await stats(id)).toMatchObject({ issued: 300, persisted: 300, pending: 0, dead: 0 });
    expect(await pendingEntries(id)).toEqual([]);
  });

  test("an entry redelivered after its row was committed makes no second row", async () => {
    const id = await newEvent(50);
    const users = await issueMany(id, 50, "redeliver");
    const crashing = issuer(id, "crash-after-commit");
    // dies between the MySQL commit and the XACK
    (crashing as unknown as { ack: () => Promise<void> }).ack = async () => {
      throw new Error("crashed before ack");
    };
    // the failure keeps the batch held (not thrown: the issuer reads on); this one is never started again
    await crashing.drainOnce();
    const select = "SELECT id, user_id, issued_at, stream_id FROM coupon_issues WHERE event_id = ? ORDER BY id";
    const [committed] = (await db.query(select, [id])) as [unknown[], unknown];
    expect(committed.length).toBe(50);
    expect((await pendingEntries(id)).length).toBe(50);

    const second = issuer(id, "after-crash");
    second.start();
    await drained(id);
    expect(second.stats.reclaimed).toBe(50);
    // a stray duplicate of an already persisted issuance, delivered afresh
    await s.redis.xadd(stream(id), "*", "e", String(id), "u", users[0]!, "t", String(Date.now()));
    await drained(id);

    const [after] = (await db.query(select, [id])) as [unknown[], unknown];
    expect(after).toEqual(committed);
    expect(await checkInvariants(db, id, 50, users)).toEqual({ rows: 50, ...clean });
    expect(await stats(id)).toMatchObject({ persisted: 50, pending: 0, dead: 0 });
  });

  // Each poison entry sits between good ones in the stream of an event.
  const poisons: [string, (id: number) => string[]][] = [
    ["no user id", (id) => ["e", String(id), "t", String(Date.now())]],
    ["a 200-char user id", (id) => ["e", String(id), "u", "x".repeat(200), "t", String(Date.now())]],
    ["another event's id", (id) => ["e", String(id + 1), "u", "stray-user", "t", String(Date.now())]],
    ["a time past year 9999", (id) => ["e", String(id), "u", "far-future", "t", String(Date.UTC(10000, 0, 1))]],
  ];
  test.each(poisons)("a poison entry (%s) is dead-lettered on its last allowed delivery and blocks no one", async (_kind, fields) => {
    const id = await newEvent(40);
    const before = await issueMany(id, 10, "before");
    const poisonId = (await s.redis.xadd(stream(id), "*", ...fields(id)))!;
    const after = await issueMany(id, 10, "after");

    const svc = issuer(id, `poison-${id}`, { maxDeliveries: 3, claimIdleMs: 100 });
    expect(await svc.drainOnce()).toBe(21);
    // the good ones on both sides of it are persisted on the first pass
    expect(await rowCount(id)).toBe(20);
    expect(await stats(id)).toMatchObject({ persisted: 20, pending: 1, dead: 0 });

    await Bun.sleep(150); // past claimIdleMs
    expect(await svc.reclaimAll()).toBe(1); // delivery 2 of 3: still retried
    expect(await pendingEntries(id)).toMatchObject([[poisonId, `poison-${id}`, expect.any(Number), 2]]);
    expect((await stats(id)).dead).toBe(0);

    await Bun.sleep(150);
    expect(await svc.reclaimAll()).toBe(1); // delivery 3 of 3: dead-lettered
    expect(await pendingEntries(id)).toEqual([]);
    expect(svc.stats.deadLettered).toBe(1);
    expect(await stats(id)).toMatchObject({ issued: 20, persisted: 20, pending: 0, dead: 1 });
    const dead = (await s.redis.xrange(eventKeys(s.prefix, id).dead, "-", "+")) as [string, string[]][];
    expect(dead.length).toBe(1);
    const f = dead[0]![1];
    expect(f.slice(0, fields(id).length - 1)).toEqual(fields(id).slice(0, -1)); // its own fields, then why and where from
    expect(f[f.indexOf("source") + 1]).toBe(poisonId);
    expect(f[f.indexOf("reason") + 1]).toBe("malformed entry");
    expect(await checkInvariants(db, id, 40, [...before, ...after])).toEqual({ rows: 20, ...clean });
  });

  test("a row MySQL rejects for its own data is dead-lettered; the rest of its batch persists", async () => {
    const id = await newEvent(40);
    const users = await issueMany(id, 15, "batch");
    const poisonId = (await s.redis.xadd(stream(id), "*", "e", String(id), "u", "rejected-row", "t", String(Date.now())))!;
    await issueMany(id, 15, "batch2").then((u) => users.push(...u));
    // a MySQL that refuses any statement carrying this one user id, as it would a value out of range
    const picky = faultyPool(s.mysql!.pool, (_sql, params) =>
      params.includes("rejected-row") ? Object.assign(new Error("Data too long for column 'user_id'"), { code: "ER_DATA_TOO_LONG" }) : null,
    );
    const svc = issuer(id, `picky-${id}`, { maxDeliveries: 2, claimIdleMs: 100 }, { ...s.mysql!, pool: picky });
    expect(await svc.drainOnce()).toBe(31);
    expect(await rowCount(id)).toBe(30);
    expect((await pendingEntries(id)).map((p) => p[0])).toEqual([poisonId]);
    await Bun.sleep(150);
    expect(await svc.reclaimAll()).toBe(1); // delivery 2 of 2
    expect(await stats(id)).toMatchObject({ persisted: 30, pending: 0, dead: 1 });
    const [dead] = (await s.redis.xrange(eventKeys(s.prefix, id).dead, "-", "+")) as [string, string[]][];
    expect(dead![1][dead![1].indexOf("reason") + 1]).toContain("Data too long");
    expect(await checkInvariants(db, id, 40, users)).toEqual({ rows: 30, ...clean });
  });

  test("three issuers on separate connections drain a backlog of 3,000: exactly one row each, none lost", async () => {
    const id = await newEvent(3000);
    const users = await issueMany(id, 3000, "multi");
    // a long claim idle time: nothing is reclaimed, so each entry is inserted by exactly one of them
    const three = [1, 2, 3].map((i) => issuer(id, `multi-${id}-${i}`, { batchSize: 100, claimIdleMs: 60_000 }));
    three.forEach((i) => i.start());
    await drained(id);
    const shares = three.map((i) => i.stats.persisted);
    const inv = await checkInvariants(db, id, 3000, users);
    console.log("three issuers:", { rows: inv.rows, shares, stats: await stats(id) });
    expect(inv).toEqual({ rows: 3000, ...clean });
    expect(shares.reduce((a, b) => a + b, 0)).toBe(3000);
    expect(shares.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    expect(await stats(id)).toMatchObject({ issued: 3000, persisted: 3000, pending: 0, dead: 0 });
    expect(await pendingEntries(id)).toEqual([]);
    await Promise.all(three.map((i) => i.stop()));
  });

  const outages: [string, () => Promise<Mysql>][] = [
    ["a MySQL server that refuses connections", async () => connectMysql("mysql://root@127.0.0.1:1/coupon_test")],
    [
      "a closed connection pool",
      async () => {
        const m = connectMysql(TEST_DB);
        await m.close();
        return m;
      },
    ],
    [
      "a read-only server (a failover in progress)",
      async () => {
        const readOnly = Object.assign(new Error("The MariaDB server is running with the --read-only option so it cannot execute this statement"), {
          code: "ER_OPTION_PREVENTS_STATEMENT",
          errno: 1290,
        });
        const pool = faultyPool(s.mysql!.pool, () => readOnly);
        return { db: s.mysql!.db, pool, close: async () => {} };
      },
    ],
  ];
  test.each(outages)("%s dead-letters nothing: entries stay pending and drain once a working issuer runs", async (_kind, broken) => {
    const id = await newEvent(100);
    const users = await issueMany(id, 100, "outage");
    const mysql = await broken();
    brokenPools.push(mysql);
    const failing = issuer(id, `down-${id}`, { maxDeliveries: 2, claimIdleMs: 100 }, mysql);
    failing.start();
    // every entry has had its last allowed delivery, and more
    await waitFor("deliveries past maxDeliveries", async () => {
      const p = await pendingEntries(id).catch(() => []); // no group until the issuer's first pass
      return p.length === 100 && p.every((e) => e[3] > 2);
    });
    await failing.stop();
    expect(failing.stats).toMatchObject({ persisted: 0, deadLettered: 0 });
    expect(await stats(id)).toMatchObject({ issued: 100, persisted: 0, pending: 100, dead: 0 });

    const healed = issuer(id, `up-${id}`, { maxDeliveries: 2, claimIdleMs: 100 });
    healed.start();
    await drained(id);
    await healed.stop();
    const inv = await checkInvariants(db, id, 100, users);
    console.log("outage:", { rows: inv.rows, stats: await stats(id) });
    expect(inv).toEqual({ rows: 100, ...clean });
    expect(await stats(id)).toMatchObject({ persisted: 100, pending: 0, dead: 0 });
  });

  test("a MySQL link cut and restored is logged once when it fails and once when it works again, with how long and how many entries were held", async () => {
    const proxy = cuttableProxy(Number(new URL(TEST_DB).port || 3306));
    const mysql = connectMysql(proxy.url());
    brokenPools.push(mysql);
    const logged = spyOn(console, "error");
    let cutFor = 0;
    let lines: string[] = [];
    try {
      const id = await newEvent(50);
      const before = await issueMany(id, 20, "cut-a");
      proxy.cut();
      const t0 = Date.now();
      const svc = issuer(id, `cut-${id}`, {}, mysql);
      svc.start();
      await waitFor("20 held", async () => svc.held.size === 20);
      // read while MySQL is away: held as well, and counted in the line when it works again
      const during = await issueMany(id, 30, "cut-b");
      await waitFor("50 held", async () => svc.held.size === 50);
      await Bun.sleep(Math.max(0, 3000 - (Date.now() - t0))); // several retries, each a failure
      cutFor = (Date.now() - t0) / 1000;
      proxy.restore();
      await drained(id);
      await svc.stop();
      expect(await checkInvariants(db, id, 50, [...before, ...during])).toEqual({ rows: 50, ...clean });
    } finally {
      lines = logged.mock.calls.map((c) => c.join(" ")).filter((l) => l.startsWith("issuer: MySQL"));
      logged.mockRestore();
      proxy.stop();
    }
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^issuer: MySQL failed: .+; holding 20 entries; retrying \(logged again when it works\)$/);
    const back = /^issuer: MySQL works again after (\d+) failed attempt\(s\) over (\d+\.\d) s; held up to 50 entries meanwhile$/.exec(lines[1]!);
    expect(back).not.toBeNull();
    expect(Number(back![1])).toBeGreaterThan(1);
    expect(Number(back![2])).toBeGreaterThanOrEqual(cutFor - 0.5);
  });

  test("an event whose stream fails on its own while the others work is logged once when it starts and once when it works again, not every loop", async () => {
    const broken = await newEvent(20);
    const healthy = await newEvent(20);
    const stream = eventKeys(s.prefix, broken).stream;
    // a key of the wrong type where the stream should be: every read of that event fails (WRONGTYPE)
    await s.redis.set(stream, "not a stream");
    const redis = createRedis(s.config, "one-event-down");
    conns.push(redis);
    const svc = new IssuerService(redis, s.mysql!, s.prefix, async () => [broken, healthy], { ...s.config.issuer, consumerName: `wrongtype-${broken}`, claimIdleMs: 100 });
    running.push(svc);
    const logged = spyOn(console, "error");
    let lines: string[] = [];
    try {
      svc.start();
      const users = await issueMany(healthy, 10, "beside");
      await drained(healthy);
      await Bun.sleep(1000); // some twenty loops while the broken event keeps failing
      await s.redis.del(stream);
      await waitFor("the event read again", async () => logged.mock.calls.some((c) => String(c[0]).startsWith(`issuer: event ${broken} works again`)), 10_000, 50);
      await svc.stop();
      expect(await checkInvariants(db, healthy, 20, users)).toEqual({ rows: 10, ...clean });
    } finally {
      lines = logged.mock.calls.map((c) => c.join(" ")).filter((l) => l.startsWith(`issuer: event ${broken}`));
      logged.mockRestore();
    }
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^issuer: event ${broken} failed: WRONGTYPE .+; its entries stay pending; retrying \\(logged again when it works\\)$`));
    expect(lines[1]).toMatch(new RegExp(`^issuer: event ${broken} works again after \\d+ failed attempt\\(s\\) over \\d+\\.\\d s$`));
  });

  test("an event whose rows keep failing does not hold back the other events", async () => {
    const stuck = await newEvent(20);
    const healthy = await newEvent(20);
    const stuckUsers = await issueMany(stuck, 10, "stuck");
    const healthyUsers = await issueMany(healthy, 10, "healthy");
    // a failure that says nothing about the rows (so never dead-lettered), for one event's inserts only
    let refusing = true;
    const pool = faultyPool(s.mysql!.pool, (_sql, params) =>
      refusing && params[0] === stuck ? Object.assign(new Error("Lock wait timeout exceeded"), { code: "ER_LOCK_WAIT_TIMEOUT" }) : null,
    );
    const redis = createRedis(s.config, "two-events");
    conns.push(redis);
    const svc = new IssuerService(redis, { ...s.mysql!, pool }, s.prefix, async () => [stuck, healthy], { ...s.config.issuer, consumerName: `two-${stuck}`, claimIdleMs: 100, maxDeliveries: 2 });
    running.push(svc);
    svc.start();
    await drained(healthy);
    expect(await checkInvariants(db, healthy, 20, healthyUsers)).toEqual({ rows: 10, ...clean });
    expect(await stats(stuck)).toMatchObject({ persisted: 0, pending: 10, dead: 0 });
    refusing = false; // the lock is released
    await drained(stuck);
    await svc.stop();
    expect(await checkInvariants(db, stuck, 20, stuckUsers)).toEqual({ rows: 10, ...clean });
    expect(await stats(stuck)).toMatchObject({ persisted: 10, pending: 0, dead: 0 });
  });

  test("an issuer carries on when the stream and its group vanish (Redis lost its data)", async () => {
    const id = await newEvent(40);
    const svc = issuer(id, `vanish-${id}`);
    svc.start();
    const first = await issueMany(id, 10, "vanish-a");
    await drained(id);
    await s.redis.del(stream(id)); // takes the consumer group with it
    const second = await issueMany(id, 10, "vanish-b"); // XADD recreates the stream, without a group
    await drained(id);
    expect(await checkInvariants(db, id, 40, [...first, ...second])).toEqual({ rows: 20, ...clean });
  });

  test("user ids that differ only in case are different users, each with a row", async () => {
    const id = await newEvent(10);
    const users = [`CaseUser-${id}`, `caseuser-${id}`, `CASEUSER-${id}`];
    for (const u of users) {
      await s.api.enter(id, u);
      expect((await s.api.issue(id, u)).status).toBe(201);
    }
    const svc = issuer(id, `case-${id}`);
    svc.start();
    await drained(id);
    expect(await checkInvariants(db, id, 10, users)).toEqual({ rows: 3, ...clean });
  });
});
