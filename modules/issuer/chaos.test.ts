// Seeded chaos for invariant 8 (issue #19): one rush while MySQL goes away three times for 5–30 s (one
// outage of 20–30 s, during which the next faults happen), Redis crashes and comes back from its AOF
// or empty (also while MySQL is away), issuers are SIGKILLed and the operator pauses and resumes (also
// while MySQL is away: told failed, then in force nowhere). Ends with rows = promises ≤ stock, nobody
// with two codes, and every control the operator was told succeeded in force, in MySQL and in Redis.
// A Redis crash waits until the issuers have read every promise (invariant 8's scope: the unread
// moment is the measured window, docs/failure-model.md). About two minutes.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { ownRedis } from "../../scripts/redis-server";
import { ADMIN_TOKEN, checkInvariants, client, cuttableProxy, mysqlConn, NO_USER_LIMITS, spawnServer, waitFor, type Proc } from "../../scripts/testkit";
import { eventKeys } from "../../src/redis";
import { GROUP } from "./service";

setDefaultTimeout(300_000);
const SEED = Number(process.env.CHAOS_SEED ?? 19);

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const db = mysqlConn();
const redis = ownRedis("everysec");
const proxy = cuttableProxy(3306);
const procs = new Set<Proc>();
afterAll(async () => {
  await Promise.all([...procs].map((p) => p.kill("SIGKILL")));
  await redis.stop();
  proxy.stop();
  await db.end();
});

describe("chaos (seeded): MySQL outages, Redis AOF and empty restarts, issuer kills, controls", () => {
  test(`seed ${SEED}: rows = promises ≤ stock, no user with two codes, every control told succeeded in force`, async () => {
    const random = rng(SEED);
    await redis.start();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: "chaos", DATABASE_URL: proxy.url(), ...NO_USER_LIMITS, ISSUER_CLAIM_IDLE_MS: "2000", ISSUE_BACKLOG_MAX_AGE_MS: "0" };
    const spawn = async (e: Record<string, string>) => {
      const p = await spawnServer({ ...env, ...e });
      procs.add(p);
      return p;
    };
    const server = await spawn({ ROLE: "router,queue,coupon" });
    const issuers = [await spawn({ ROLE: "issuer", ISSUER_CONSUMER: "c-1" }), await spawn({ ROLE: "issuer", ISSUER_CONSUMER: "c-2" })];
    const api = client(server.url);
    // sales go on through the whole run (about 30 users a second), so every fault meets a live rush
    const stock = 1500;
    const id = (await api.createEvent({ name: `chaos ${SEED}`, stock, trafficRpm: 1_000_000_000, runningCapacity: 100_000 })).body.id as number;
    const admin = new Redis(redis.url, { maxRetriesPerRequest: null });
    // it reconnects by itself across the restarts
    admin.on("error", () => {});

    const promised = new Map<string, string>();
    const unknown = new Set<string>();
    let held = false;
    let rushing = true;
    let next = 0;
    const rush = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (rushing && next < 5000) {
          if (held) {
            await Bun.sleep(20);
            continue;
          }
          const u = `chaos-${SEED}-${id}-${next++}`;
          for (let i = 0; i < 50 && rushing; i++) {
            // a user in the middle of trying waits too: nothing is issued while Redis is about to crash
            while (held) await Bun.sleep(20);
            const e = await api.enter(id, u).catch(() => ({ status: 0, body: null }));
            if (e.status === 410 || e.status === 409) break;
            if (e.status === 200) {
              const r = await api.issue(id, u).catch(() => ({ status: 0, body: null as any }));
              if (r.status === 201) promised.set(u, r.body.code);
              // 504 outcome_unknown, or no answer: GET …/coupon tells at the end (the contract's way)
              if (r.status === 504 || r.status === 0) unknown.add(u);
              if (r.status !== 503 && r.status !== 0) break;
            }
            await Bun.sleep(100);
          }
          await Bun.sleep(250);
        }
      }),
    );

    /** Holds the users until every promise is read by an issuer (the stream's unread lag is 0). */
    const quiesce = async () => {
      held = true;
      await Bun.sleep(200);
      await waitFor("every promise read", async () => {
        const groups = (await admin.xinfo("GROUPS", `chaos:{${id}}:stream`).catch(() => [])) as unknown[][];
        const g = groups.find((x) => x[x.indexOf("name") + 1] === GROUP);
        return !g || Number(g[g.indexOf("lag") + 1] ?? 0) === 0;
      }, 30_000, 50);
    };
    /**
     * MySQL away for `ms` from now; an outage already under way is extended, never past 30 s in all.
     * Resolves at once: the faults that follow happen during it.
     */
    const outages: { from: number; to: number }[] = [];
    let restoreTimer: ReturnType<typeof setTimeout> | null = null;
    const mysqlAway = (ms: number) => {
      const now = Date.now();
      let o = outages.at(-1);
      if (!o || o.to <= now) outages.push((o = { from: now, to: now }));
      o.to = Math.min(Math.max(o.to, now + ms), o.from + 30_000);
      proxy.cut();
      if (restoreTimer) clearTimeout(restoreTimer);
      restoreTimer = setTimeout(() => proxy.restore(), o.to - now);
    };
    const mysqlBack = () => Bun.sleep(Math.max(0, (outages.at(-1)?.to ?? 0) - Date.now()));
    const done: string[] = [];
    const controls: { action: string; status: number }[] = [];
    // the long outage lets the two to four faults after it happen while MySQL is away
    const actions = ["mysql-long", "mysql", "aof", "mysql+empty", "kill", "control", "empty", "kill", "control"].sort(() => random() - 0.5);
    for (const action of actions) {
      await Bun.sleep(1500 + random() * 1500);
      if (action === "mysql-long") mysqlAway(20_000 + random() * 10_000);
      else if (action === "mysql") {
        mysqlAway(5000 + random() * 10_000);
        await mysqlBack();
      } else if (action === "aof" || action === "empty" || action === "mysql+empty") {
        if (action === "mysql+empty") mysqlAway(5000 + random() * 10_000);
        await quiesce();
        if (action === "aof") await redis.crash().then(() => redis.start());
        else await redis.restartEmpty();
        held = false;
        if (action === "mysql+empty") await mysqlBack();
      } else if (action === "kill") {
        // never while Redis may lack what the victim holds (a double failure): after the drain only
        await waitFor("drained", async () => (await api.stats(id).catch(() => ({ body: {} as any }))).body.pending === 0, 60_000, 200);
        const victim = issuers.shift()!;
        await victim.kill("SIGKILL");
        procs.delete(victim);
        issuers.push(await spawn({ ROLE: "issuer", ISSUER_CONSUMER: `c-${Date.now()}` }));
      } else {
        for (const a of ["pause", "resume"]) {
          const r = await api.call("POST", `/admin/events/${id}/${a}`, { token: ADMIN_TOKEN });
          controls.push({ action: a, status: r.status });
        }
      }
      done.push(action);
    }
    await mysqlBack();
    rushing = false;
    await rush;
    for (const u of unknown) {
      if (promised.has(u)) continue;
      const c = await api.coupon(id, u);
      if (c.body?.issued) promised.set(u, c.body.code);
    }
    let st: any = {};
    await waitFor("drained", async () => {
      st = (await api.stats(id).catch((e) => ({ body: { error: String(e) } as any }))).body;
      return st.pending === 0 && st.persisted === Math.min(stock, promised.size);
    }, 120_000, 250).catch(async (e) => {
      console.log(`chaos seed ${SEED}: not drained after ${done.join(", ")}; promised ${promised.size}; stats`, st, await checkInvariants(db, id, stock, promised.keys()));
      for (const p of procs) console.log(p.log().split("\n").slice(-30).join("\n"));
      throw e;
    });
    const inRedis = await admin.hget(eventKeys("chaos", id).meta, "paused");
    admin.disconnect();
    const inv = await checkInvariants(db, id, stock, promised.keys());
    const [codes] = (await db.query("SELECT user_id, code FROM coupon_issues WHERE event_id = ?", [id])) as [{ user_id: string; code: string }[], unknown];
    const wrongCode = codes.filter((r) => promised.get(r.user_id) !== r.code).length;
    const [[flags]] = (await db.query("SELECT paused FROM coupon_events WHERE id = ?", [id])) as any;
    const spans = outages.map((o) => `${((o.to - o.from) / 1000).toFixed(1)} s`).join(", ");
    console.log(`chaos seed ${SEED}: ${done.join(", ")}; MySQL outages ${spans}; promised ${promised.size} (${unknown.size} answered 504 or nothing, then read back), rows ${inv.rows}, lost ${inv.lost.length}, phantom ${inv.phantom.length}, other code ${wrongCode}; controls ${controls.map((c) => `${c.action} ${c.status}`).join(", ")}`);
    // the schedule is what the issue asks for: outages of 5–30 s, one of them at least 20 s
    expect(outages.every((o) => o.to - o.from >= 5000 && o.to - o.from <= 30_000)).toBe(true);
    expect(outages.some((o) => o.to - o.from >= 20_000)).toBe(true);
    expect(inv).toEqual({ rows: promised.size, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    expect(promised.size).toBeLessThanOrEqual(stock);
    expect(wrongCode).toBe(0);
    // every control told succeeded is in force, in MySQL and in what users are answered from; one told
    // failed (503 while MySQL was away) is in force nowhere. A 504 (outcome unknown) after the last 200
    // may have gone either way: then MySQL and Redis must agree.
    const answered = controls.filter((c) => c.status !== 503);
    const last = answered.at(-1);
    const want = last?.status === 200 ? (last.action === "pause" ? 1 : 0) : Number(flags.paused);
    expect({ mysql: Number(flags.paused), redis: Number(inRedis ?? 0) }).toEqual({ mysql: want, redis: want });
  });
});
