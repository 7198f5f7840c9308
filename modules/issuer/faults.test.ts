// Faults during the rush lose nothing: issuer SIGKILLed, MariaDB cut, Redis restarted (AOF) or wiped.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adopt, checkInvariants, client, cuttableProxy, dropKeys, mysqlConn, pool, spawnServer, TEST_DB, TEST_REDIS, type Proc } from "../../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const db = mysqlConn();
const procs: Proc[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill("SIGKILL")));
  for (const p of prefixes) await dropKeys(TEST_REDIS, p);
  await db.end();
});

async function spawn(env: Record<string, string>) {
  const p = await spawnServer(env);
  procs.push(p);
  return p;
}
const newPrefix = (tag: string) => {
  const p = `${tag}${Date.now().toString(36)}`;
  prefixes.push(p);
  return p;
};

type Api = ReturnType<typeof client>;
async function enterAndIssue(api: Api, id: number, user: string) {
  const e = await api.enter(id, user);
  if (e.status !== 200) return { user, status: e.status, error: e.body?.error };
  const r = await api.issue(id, user);
  return { user, status: r.status, error: r.body?.error };
}
async function drained(api: Api, id: number, expectPersisted: number, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  let st: any = {};
  while (Date.now() < end) {
    const r = await api.stats(id);
    if (r.status === 200) {
      st = r.body;
      if (st.pending === 0 && st.persisted === expectPersisted) return st;
    }
    await Bun.sleep(200);
  }
  throw new Error(`not drained: ${JSON.stringify(st)}`);
}

describe("faults during the rush", () => {
  test("issuer SIGKILLed three times during the drain: 0 lost, 0 duplicated", async () => {
    const env = { REDIS_KEY_PREFIX: newPrefix("kill"), ISSUER_CLAIM_IDLE_MS: "1000", ISSUER_BATCH_SIZE: "50" };
    const server = await spawn({ ...env, ROLE: "router,queue,coupon" });
    const api = client(server.url);
    const id = (await api.createEvent({ name: "kill -9", stock: 4000, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 })).body.id as number;
    const users = Array.from({ length: 4000 }, (_, i) => `k-${id}-${i}`);
    const rush = pool(users, 100, (u) => enterAndIssue(api, id, u));

    let issuer = await spawn({ ...env, ROLE: "issuer", ISSUER_CONSUMER: "victim-0" });
    const killedAt: number[] = [];
    for (let k = 1; k <= 3; k++) {
      const before = (await api.stats(id)).body.persisted as number;
      while (((await api.stats(id)).body.persisted as number) <= before) await Bun.sleep(20);
      expect(await issuer.kill("SIGKILL")).not.toBe(0);
      killedAt.push((await api.stats(id)).body.persisted);
      issuer = await spawn({ ...env, ROLE: "issuer", ISSUER_CONSUMER: `victim-${k}` });
    }
    const results = await rush;
    const winners = results.filter((r) => r.status === 201).map((r) => r.user);
    expect(winners.length).toBe(4000);
    const st = await drained(api, id, 4000);
    expect(st.dead).toBe(0);
    const inv = await checkInvariants(db, id, 4000, winners);
    console.log(`issuer SIGKILL x3 at persisted = ${killedAt.join(", ")}; final rows ${inv.rows}, duplicates ${inv.duplicates}, lost ${inv.lost.length}`);
    expect(inv).toEqual({ rows: 4000, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
  });

  test("MariaDB cut for 10 s mid-rush: coupons keep being issued, nothing dead-lettered, all drains after", async () => {
    const proxy = cuttableProxy(Number(new URL(TEST_DB).port || 3306));
    const viaProxy = TEST_DB.replace(/:\/\/([^@/]+@)?[^/]+\//, (_m, auth) => `://${auth ?? ""}127.0.0.1:${proxy.port}/`);
    // aggressive redelivery settings: a good entry must survive them while MySQL is away
    const env = { REDIS_KEY_PREFIX: newPrefix("dbcut"), DATABASE_URL: viaProxy, ISSUER_CLAIM_IDLE_MS: "500", ISSUER_MAX_DELIVERIES: "2" };
    try {
      const server = await spawn({ ...env, ROLE: "router,queue,coupon" });
      await spawn({ ...env, ROLE: "issuer", ISSUER_CONSUMER: "dbcut-1" });
      await spawn({ ...env, ROLE: "issuer", ISSUER_CONSUMER: "dbcut-2" });
      const api = client(server.url);
      const id = (await api.createEvent({ name: "db outage", stock: 3000, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 })).body.id as number;
      const users = Array.from({ length: 3000 }, (_, i) => `d-${id}-${i}`);

      const first = await pool(users.slice(0, 1000), 100, (u) => enterAndIssue(api, id, u));
      proxy.cut();
      const t0 = Date.now();
      const during = await pool(users.slice(1000, 2000), 100, (u) => enterAndIssue(api, id, u));
      const statsDuring = await api.stats(id);
      await Bun.sleep(Math.max(0, 10_000 - (Date.now() - t0)));
      proxy.restore();
      const after = await pool(users.slice(2000), 100, (u) => enterAndIssue(api, id, u));

      const all = [...first, ...during, ...after];
      expect(during.filter((r) => r.status === 201).length).toBe(1000);
      expect(all.every((r) => r.status < 500)).toBe(true);
      expect([200, 503]).toContain(statsDuring.status);
      const winners = all.filter((r) => r.status === 201).map((r) => r.user);
      const st = await drained(api, id, 3000);
      expect(st.dead).toBe(0);
      const inv = await checkInvariants(db, id, 3000, winners);
      console.log(`MariaDB cut ${((Date.now() - t0) / 1000).toFixed(1)} s: 201s during the outage ${during.filter((r) => r.status === 201).length}, rows ${inv.rows}, dead ${st.dead}, lost ${inv.lost.length}`);
      expect(inv).toEqual({ rows: 3000, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    } finally {
      proxy.stop();
    }
  }, 120_000);

  test("Redis restarted: with AOF nothing promised is lost; wiped, the event is rebuilt from MySQL without over-issue", async () => {
    const port = 16400 + Math.floor(Math.random() * 500);
    const dir = mkdtempSync(join(tmpdir(), "coupon-redis-"));
    const startRedis = (aof: boolean) =>
      adopt(Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", aof ? "yes" : "no", "--appendfsync", "always"], { stdout: "ignore", stderr: "ignore" }));
    const ping = async () => {
      for (let i = 0; i < 100; i++) {
        const p = Bun.spawn(["redis-cli", "-p", String(port), "ping"], { stdout: "pipe", stderr: "ignore" });
        if ((await new Response(p.stdout).text()).includes("PONG")) return;
        await Bun.sleep(50);
      }
      throw new Error("redis did not come up");
    };
    let redis = startRedis(true);
    try {
      await ping();
      const env = { REDIS_URL: `redis://127.0.0.1:${port}/0`, REDIS_KEY_PREFIX: "rr" };
      const server = await spawn({ ...env, ROLE: "router,queue,coupon" });
      const api = client(server.url);
      const id = (await api.createEvent({ name: "redis restart", stock: 1500, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 })).body.id as number;

      // 1) 1,000 promised, none persisted yet (no issuer running), then Redis dies and comes back from its AOF
      const phase1 = await pool(Array.from({ length: 1000 }, (_, i) => `r-${id}-${i}`), 100, (u) => enterAndIssue(api, id, u));
      const promised1 = phase1.filter((r) => r.status === 201).map((r) => r.user);
      expect(promised1.length).toBe(1000);
      redis.kill("SIGKILL");
      await redis.exited;
      redis = startRedis(true);
      await ping();
      await spawn({ ...env, ROLE: "issuer" });
      await drained(api, id, 1000);
      const inv1 = await checkInvariants(db, id, 1500, promised1);
      console.log(`Redis SIGKILL + AOF restart with 1000 pending: rows ${inv1.rows}, lost ${inv1.lost.length}`);
      expect(inv1).toEqual({ rows: 1000, duplicates: 0, overIssue: 0, lost: [], phantom: [] });

      // 2) Redis loses everything: the event is rebuilt from MySQL; old winners stay winners, only the rest is sold
      redis.kill("SIGKILL");
      await redis.exited;
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      redis = startRedis(false);
      await ping();
      const end = Date.now() + 15_000;
      let pub: any;
      do {
        await Bun.sleep(100);
        pub = await api.call("GET", `/api/events/${id}`);
      } while (pub.status !== 200 && Date.now() < end);
      expect(pub.body).toMatchObject({ remaining: 500, status: "open" });
      const again = [...promised1.slice(0, 500), ...Array.from({ length: 1000 }, (_, i) => `r2-${id}-${i}`)];
      const phase2 = await pool(again, 100, (u) => enterAndIssue(api, id, u));
      const promised2 = phase2.filter((r) => r.status === 201).map((r) => r.user);
      expect(promised2.length).toBe(500);
      expect(phase2.filter((r) => r.user.startsWith("r-")).every((r) => r.error === "already_issued")).toBe(true);
      await drained(api, id, 1500);
      const inv2 = await checkInvariants(db, id, 1500, [...promised1, ...promised2]);
      console.log(`Redis wiped and rebuilt: rows ${inv2.rows} of stock 1500, duplicates ${inv2.duplicates}, over-issue ${inv2.overIssue}`);
      expect(inv2).toEqual({ rows: 1500, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    } finally {
      redis.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
