// Claim on turn: joining the line is the request; the scheduler issues the head of the line itself.
// The strong invariant, checked from atomic reads of Redis while it runs and from MySQL after:
// no user gets a coupon while someone who entered before them (and did not leave) waits without
// one — under a rush with leavers and latecomers, a pre-queue draw, two schedulers, a scheduler
// process SIGKILLed while it issues, and Redis connections dropped mid-rush. With exact stock, one
// per user, and every promise stored (rows = promises).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { createRedis, eventKeys } from "../../src/redis";
import { checkInvariants, client, mysqlConn, NO_USER_LIMITS, pool, spawnServer, spawnSplit, startServer, stopServer, TEST_REDIS, token, waitFor, type Proc, type Split, type Started } from "../../scripts/testkit";
import { QueueService } from "./service";
import { TurnIssuer } from "./turn";

setDefaultTimeout(240_000);

const db = mysqlConn();
const r = new Redis(TEST_REDIS);
afterAll(async () => {
  r.disconnect();
  await db.end();
});

const seqOfTicket = (ticket: string) => JSON.parse(Buffer.from(ticket.split(".")[1]!, "base64url").toString()).seq as number;
const admin = (s: Started, id: number, action: "pause" | "resume") => s.api.call("POST", `/admin/events/${id}/${action}`, { token: "test-admin-token" });

/**
 * Watches an event: every few ms one atomic read of the issued users and the line's head; a
 * violation is an issued user who entered after the head (who waits without a coupon). Needs every
 * user's arrival sequence (`seqOf`, filled as users enter).
 */
function watchOrder(k: ReturnType<typeof eventKeys>, seqOf: Map<string, number>) {
  let on = true;
  const seen = { samples: 0, violations: [] as string[] };
  const done = (async () => {
    while (on) {
      const res = (await r.multi().hkeys(k.issued).zrange(k.waiting, "0", "0", "WITHSCORES").exec())!;
      const issued = res[0]![1] as string[];
      const head = res[1]![1] as string[];
      if (head.length) {
        const headSeq = Number(head[1]);
        for (const u of issued) if ((seqOf.get(u) ?? 0) > headSeq) seen.violations.push(`${u}(${seqOf.get(u)}) issued while ${head[0]}(${headSeq}) waits`);
      }
      seen.samples++;
      await Bun.sleep(5);
    }
  })();
  return {
    seen,
    stop: async () => {
      on = false;
      await done;
      return seen;
    },
  };
}

/** After the event: users who entered before the last one issued, did not leave and got nothing. */
function skipped(seqOf: Map<string, number>, issued: Set<string>, leavers: Set<string>) {
  const last = Math.max(0, ...[...issued].map((u) => seqOf.get(u) ?? 0));
  return [...seqOf].filter(([u, seq]) => seq < last && !issued.has(u) && !leavers.has(u)).map(([u]) => u);
}

/** Everyone in `users` enters the paused event (so every arrival sequence is known), then it resumes. */
async function lineUp(s: Started, id: number, users: string[], seqOf: Map<string, number>) {
  const entered = await pool(users, 200, (u) => s.api.enter(id, u));
  expect(entered.map((e) => e.status)).toEqual(users.map(() => 202));
  entered.forEach((e, i) => seqOf.set(users[i]!, seqOfTicket(e.body.ticket)));
}

async function settle(s: Started, id: number, stock: number) {
  await waitFor("sold out", async () => (await s.api.stats(id)).body.status === "sold_out", 120_000, 200);
  await waitFor("every promise persisted", async () => (await s.api.stats(id)).body.pending === 0, 120_000, 200);
  const promised = new Set(await r.hkeys(eventKeys(s.prefix, id).issued));
  const inv = await checkInvariants(db, id, stock, promised);
  return { promised, inv };
}

describe("on_turn with the real cron scheduler", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ ...NO_USER_LIMITS, QUEUE_WAITER_TIMEOUT_MS: "2000" });
  });
  afterAll(() => stopServer(s));

  test("a rush with leavers and latecomers: issued in entry order at admitPerSecond, exact stock, rows = promises; silent users are not dropped", async () => {
    const STOCK = 300;
    const id = (await s.api.createEvent({ name: "on-turn rush", stock: STOCK, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 80, claim: "on_turn" })).body.id as number;
    const k = eventKeys(s.prefix, id);
    await admin(s, id, "pause");
    const users = Array.from({ length: 900 }, (_, i) => `ot-${id}-${i}`);
    const seqOf = new Map<string, number>();
    await lineUp(s, id, users, seqOf);
    // nobody polls from here on (QUEUE_WAITER_TIMEOUT_MS is 2 s): on_turn drops nobody for silence
    const watch = watchOrder(k, seqOf);
    await admin(s, id, "resume");

    // leavers anywhere in the line, at random moments; latecomers join the back
    const leavers = new Set<string>();
    const leaving = pool(users.filter((_, i) => i % 7 === 3), 20, async (u) => {
      await Bun.sleep(Math.random() * 3000);
      leavers.add(u);
      expect((await s.api.leave(id, u)).status).toBe(204);
    });
    const late = Array.from({ length: 100 }, (_, i) => `ot-${id}-late-${i}`);
    const joining = pool(late, 10, async (u) => {
      await Bun.sleep(Math.random() * 2000);
      const e = await s.api.enter(id, u);
      if (e.status === 202) seqOf.set(u, seqOfTicket(e.body.ticket));
      else expect(e.body.status ?? e.body.error).toMatch(/issued|sold_out/);
    });
    await Promise.all([leaving, joining]);
    const { promised, inv } = await settle(s, id, STOCK);
    const seen = await watch.stop();
    console.log("on_turn rush:", { samples: seen.samples, violations: seen.violations.length, issued: promised.size, leavers: leavers.size });
    expect(seen.violations.slice(0, 5)).toEqual([]);
    expect(seen.samples).toBeGreaterThan(20);
    expect(skipped(seqOf, promised, leavers)).toEqual([]);
    expect(inv).toEqual({ rows: STOCK, duplicates: 0, overIssue: 0, lost: [], phantom: [] });

    // no second's issuance went over admitPerSecond (the per-second log is what the budget reads)
    const [rows] = (await db.query("SELECT FLOOR(UNIX_TIMESTAMP(issued_at)) AS sec, COUNT(*) AS n FROM coupon_issues WHERE event_id = ? GROUP BY sec", [id])) as [{ n: number }[], unknown];
    expect(Math.max(...rows.map((x) => Number(x.n)))).toBeLessThanOrEqual(80);

    // a winner who never polled gets the coupon on return (enter and poll), with the code MySQL has
    const winner = [...promised][0]!;
    const [[row]] = (await db.query("SELECT code FROM coupon_issues WHERE event_id = ? AND user_id = ?", [id, winner])) as [{ code: string }[], unknown];
    for (const reply of [await s.api.enter(id, winner), await s.api.poll(id, winner)]) {
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ status: "issued", eventId: id, code: row!.code, persisted: true, validUntil: null, ticket: expect.any(String) });
    }
    expect((await s.api.issue(id, winner)).body.error).toBe("already_issued");
    const mine = await s.api.call("GET", "/api/me/coupons", { token: token(winner) });
    expect(mine.body.coupons.map((c: { code: string }) => c.code)).toContain(row!.code);
  });

  test("a pre-queue draw: nobody is issued before the places are drawn, then in drawn order, ahead of everyone who entered after the start", async () => {
    const STOCK = 150;
    const startsAt = Date.now() + 4000;
    const id = (await s.api.createEvent({ name: "on-turn draw", stock: STOCK, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 100, claim: "on_turn", queueOpensAt: new Date().toISOString(), startsAt: new Date(startsAt).toISOString() })).body.id as number;
    const k = eventKeys(s.prefix, id);
    const pre = Array.from({ length: 200 }, (_, i) => `otd-${id}-${i}`);
    const entered = await pool(pre, 100, (u) => s.api.enter(id, u));
    expect(entered.every((e) => e.status === 202 && e.body.status === "pre_queue" && e.body.claim === "on_turn")).toBe(true);
    // pause across the start: the draw runs, nobody is issued, latecomers queue behind the drawn places
    await admin(s, id, "pause");
    await waitFor("places drawn", async () => (await s.api.stats(id)).body.draw?.size != null, 60_000, 100);
    expect(await r.hlen(k.issued)).toBe(0);
    const seqOf = new Map<string, number>();
    const drawn = await r.zrange(k.waiting, "0", "-1", "WITHSCORES");
    for (let i = 0; i < drawn.length; i += 2) seqOf.set(drawn[i]!, Number(drawn[i + 1]));
    expect(seqOf.size).toBe(pre.length);
    const late = Array.from({ length: 50 }, (_, i) => `otd-${id}-late-${i}`);
    await lineUp(s, id, late, seqOf);
    expect(Math.min(...late.map((u) => seqOf.get(u)!))).toBeGreaterThan(Math.max(...pre.map((u) => seqOf.get(u)!)));
    const watch = watchOrder(k, seqOf);
    await admin(s, id, "resume");
    const { promised, inv } = await settle(s, id, STOCK);
    const seen = await watch.stop();
    expect(seen.violations.slice(0, 5)).toEqual([]);
    expect(skipped(seqOf, promised, new Set())).toEqual([]);
    // the first STOCK drawn places, none of the latecomers
    expect([...promised].sort()).toEqual([...seqOf].sort((a, b) => a[1] - b[1]).slice(0, STOCK).map(([u]) => u).sort());
    expect(inv).toEqual({ rows: STOCK, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
  });

  test("the claim: set at create, shown to everyone, changed only while scheduled; issue is refused on on_turn events", async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const ev = await s.api.createEvent({ name: "claim", stock: 5, trafficRpm: 0, runningCapacity: 1, startsAt: later, slotSeconds: 30, graceSeconds: 60 });
    expect(ev.body).toMatchObject({ claim: "manual", slotSeconds: 30, graceSeconds: 60 });
    const id = ev.body.id as number;
    expect((await s.api.patch(id, { claim: "on_turn", graceSeconds: null })).body).toMatchObject({ claim: "on_turn", slotSeconds: 30, graceSeconds: null });
    expect((await s.api.call("GET", `/api/events/${id}`)).body).toMatchObject({ claim: "on_turn", slotSeconds: 30, graceSeconds: null, paused: false, couponValidUntil: null });
    const [[row]] = (await db.query("SELECT claim, slot_seconds, grace_seconds FROM coupon_events WHERE id = ?", [id])) as [Record<string, unknown>[], unknown];
    expect(row).toEqual({ claim: "on_turn", slot_seconds: 30, grace_seconds: null });
    for (const bad of [{ claim: "auto" }, { slotSeconds: 5 }, { graceSeconds: 3601 }, { slotSeconds: "30" }]) expect((await s.api.patch(id, bad)).status).toBe(400);

    const open = (await s.api.createEvent({ name: "claim open", stock: 5, trafficRpm: 0, runningCapacity: 1, claim: "on_turn" })).body.id as number;
    const refused = await s.api.patch(open, { claim: "manual" });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe("not_scheduled");
    expect((await s.api.patch(open, { claim: "on_turn" })).status).toBe(200); // no change: nothing to refuse
    // nobody ahead: issued at once; POST /issue tells a holder from anyone else
    const first = await s.api.enter(open, "holder");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: "issued", eventId: open, code: expect.any(String) });
    expect((await s.api.issue(open, "holder")).body.error).toBe("already_issued");
    const other = await s.api.issue(open, "someone");
    expect(other.status).toBe(403);
    expect(other.body.error).toBe("not_admitted");
    expect(await r.hlen(eventKeys(s.prefix, open).issued)).toBe(1);
  });
});

describe("on_turn with two schedulers (none in the server)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ ...NO_USER_LIMITS, QUEUE_SCHEDULER: "off" });
  });
  afterAll(() => stopServer(s));

  test("two schedulers issue together: in order, within the shared budget, exact stock", async () => {
    const STOCK = 400;
    const BUDGET = 120;
    const id = (await s.api.createEvent({ name: "on-turn two", stock: STOCK, trafficRpm: 0, runningCapacity: 1, admitPerSecond: BUDGET, claim: "on_turn" })).body.id as number;
    const k = eventKeys(s.prefix, id);
    await admin(s, id, "pause");
    const users = Array.from({ length: 700 }, (_, i) => `ot2-${id}-${i}`);
    const seqOf = new Map<string, number>();
    await lineUp(s, id, users, seqOf);

    const conns = [0, 1].map((i) => createRedis(s.config, `sched-${i}`));
    const stricts = [0, 1].map((i) => createRedis(s.config, `turn-${i}`, true));
    const schedulers = [0, 1].map((i) => {
      const q = new QueueService(conns[i]!, s.prefix, s.config.queue);
      q.turns = new TurnIssuer(stricts[i]!, s.prefix, s.reconciler!.gate);
      return q;
    });
    const perSecond = new Map<number, number>();
    const by = [0, 0];
    let done = false;
    const loop = async (q: QueueService, i: number) => {
      while (!done) {
        const now = Date.now();
        const t = await q.tick(id, now);
        const sec = Math.floor(now / 1000);
        perSecond.set(sec, (perSecond.get(sec) ?? 0) + t.issued);
        by[i]! += t.issued;
        if (t.status === "sold_out") done = true;
        await Bun.sleep(3);
      }
    };
    const watch = watchOrder(k, seqOf);
    await admin(s, id, "resume");
    const stop = setTimeout(() => (done = true), 90_000);
    await Promise.all(schedulers.map(loop));
    clearTimeout(stop);
    const { promised, inv } = await settle(s, id, STOCK);
    const seen = await watch.stop();
    for (const c of [...conns, ...stricts]) c.disconnect();
    console.log("two schedulers:", { bySchedulers: by, perSecond: Object.fromEntries(perSecond), samples: seen.samples });
    // (which of the two issues a given second is up to the machine: only the sum and the order are checked)
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(BUDGET);
    expect(seen.violations.slice(0, 5)).toEqual([]);
    expect(skipped(seqOf, promised, new Set())).toEqual([]);
    expect(inv).toEqual({ rows: STOCK, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
  });
});

describe("on_turn through failures", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ ...NO_USER_LIMITS, QUEUE_SCHEDULER: "off" });
  });
  afterAll(() => stopServer(s));

  test("a queue process (split deployment) SIGKILLed while it issues: another takes over; nothing lost, nothing twice, order kept", async () => {
    const STOCK = 3000;
    const id = (await s.api.createEvent({ name: "on-turn kill", stock: STOCK, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 2500, claim: "on_turn" })).body.id as number;
    const k = eventKeys(s.prefix, id);
    await admin(s, id, "pause");
    const users = Array.from({ length: 4000 }, (_, i) => `otk-${id}-${i}`);
    const seqOf = new Map<string, number>();
    await lineUp(s, id, users, seqOf);
    const watch = watchOrder(k, seqOf);
    // a queue-only process: its scheduler issues through turn-6.lua, gated on the coupon side's reconciliation record
    const env = { ROLE: "queue", REDIS_KEY_PREFIX: s.prefix };
    const first = await spawnServer(env);
    await admin(s, id, "resume");
    let atKill = 0;
    await waitFor("the first scheduler issuing", async () => (atKill = await r.hlen(k.issued)) > 0, 60_000, 2);
    await first.kill("SIGKILL");
    const afterKill = await r.hlen(k.issued);
    const second = await spawnServer(env);
    try {
      const { promised, inv } = await settle(s, id, STOCK);
      const seen = await watch.stop();
      console.log("scheduler killed:", { issuedWhenSeen: atKill, issuedWhenDead: afterKill, samples: seen.samples });
      expect(afterKill).toBeLessThan(STOCK);
      expect(seen.violations.slice(0, 5)).toEqual([]);
      expect(skipped(seqOf, promised, new Set())).toEqual([]);
      expect(inv).toEqual({ rows: STOCK, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    } finally {
      await second.kill();
    }
  });

  test("Redis connections dropped again and again mid-rush: order kept, exact stock, every promise stored; the API answers 503, never 500", async () => {
    const STOCK = 300;
    const id = (await s.api.createEvent({ name: "on-turn drops", stock: STOCK, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 60, claim: "on_turn" })).body.id as number;
    const k = eventKeys(s.prefix, id);
    await admin(s, id, "pause");
    const users = Array.from({ length: 600 }, (_, i) => `otr-${id}-${i}`);
    const seqOf = new Map<string, number>();
    await lineUp(s, id, users, seqOf);
    const watch = watchOrder(k, seqOf);
    await admin(s, id, "resume");

    let on = true;
    const statuses = new Map<number, number>();
    const scheduler = (async () => {
      while (on) {
        await s.queue.tick(id).catch(() => {});
        await Bun.sleep(200);
      }
    })();
    // users poll throughout (their token: no ticket shortcut), some through the drops
    const c = client(s.url);
    const polling = (async () => {
      while (on) {
        const u = users[Math.floor(Math.random() * users.length)]!;
        const p = await c.call("GET", `/api/events/${id}/queue`, { token: token(u) });
        statuses.set(p.status, (statuses.get(p.status) ?? 0) + 1);
        await Bun.sleep(5);
      }
    })();
    let drops = 0;
    // each drop fences sales for RECONCILE_FENCE_MS (a blip cannot be told from a crash): some issuing between drops
    while ((await r.hget(k.meta, "remaining")) !== "0" && drops < 15) {
      await Bun.sleep(800 + Math.random() * 700);
      const ids = await Promise.all([s.redis, s.issueRedis!].filter((x) => x.status === "ready").map((x) => x.client("ID")));
      for (const cid of ids) await r.client("KILL", "ID", String(cid)).catch(() => {});
      drops++;
    }
    const { promised, inv } = await settle(s, id, STOCK);
    on = false;
    await Promise.all([scheduler, polling]);
    const seen = await watch.stop();
    console.log("drops:", { drops, statuses: Object.fromEntries(statuses), samples: seen.samples });
    expect(drops).toBeGreaterThan(2);
    expect(statuses.get(500) ?? 0).toBe(0);
    expect([...statuses.keys()].every((st) => st === 200 || st === 503)).toBe(true);
    expect(seen.violations.slice(0, 5)).toEqual([]);
    expect(skipped(seqOf, promised, new Set())).toEqual([]);
    expect(inv).toEqual({ rows: STOCK, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
  });
});

// The check in includes/take.lua, in a split deployment: the queue-only scheduler finds the issued
// hash short, issues nobody, and asks the coupon processes to repair it (it has no MySQL of its own).
// Its own processes and prefix: no process that sold the event itself (whose tick would repair it
// unasked: reconcile.ts checkPartialLoss) and no other test's events or repairs.
describe("on_turn partial loss, split", () => {
  let split: Split;
  let issuer: Proc;
  beforeAll(async () => {
    split = await spawnSplit("otl", NO_USER_LIMITS);
    issuer = await spawnServer({ ...NO_USER_LIMITS, ROLE: "issuer", REDIS_KEY_PREFIX: split.prefix });
  });
  afterAll(async () => {
    await issuer?.kill("SIGKILL");
    await split?.stop();
  });

  test("the issued hash deleted, the earlier winners back in line, a queue-only scheduler: nobody gets a second coupon; the coupon process repairs it when asked", async () => {
    const api = client(split.router.url);
    const adminCall = (id: number, action: "pause" | "resume") => api.call("POST", `/admin/events/${id}/${action}`, { token: "test-admin-token" });
    const id = (await api.createEvent({ name: "on-turn partial loss", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 50, claim: "on_turn" })).body.id as number;
    const k = eventKeys(split.prefix, id);
    const winners = Array.from({ length: 20 }, (_, i) => `otl-${id}-${i}`);
    const lineUpHere = async () => expect((await pool(winners, 20, (u) => api.enter(id, u))).map((e) => e.status)).toEqual(winners.map(() => 202));
    expect((await adminCall(id, "pause")).status).toBe(200);
    await lineUpHere();
    expect((await adminCall(id, "resume")).status).toBe(200);
    await waitFor("the winners issued and stored", async () => (await api.stats(id)).body.persisted === 20, 60_000, 100);
    const codes = await r.hgetall(k.issued);
    expect((await adminCall(id, "pause")).status).toBe(200);
    await r.del(k.issued);
    await lineUpHere();
    expect((await adminCall(id, "resume")).status).toBe(200);
    await waitFor("repaired, and the line empty (each winner found already issued)", async () => (await r.hlen(k.issued)) === 20 && (await r.zcard(k.waiting)) === 0, 60_000, 100);
    expect(await r.hgetall(k.issued)).toEqual(codes);
    // repaired because the queue process asked, not found by the coupon process itself
    expect(split.coupon.log()).toContain(`event ${id}: a queue process's on_turn scheduler found fewer issued users than units gone (keys lost)`);
    const st = (await api.stats(id)).body;
    expect({ remaining: st.remaining, persisted: st.persisted, dead: st.dead }).toEqual({ remaining: 80, persisted: 20, dead: 0 });
    const [[{ n }]] = (await db.query("SELECT COUNT(*) AS n FROM coupon_issues WHERE event_id = ?", [id])) as any;
    expect(n).toBe(20);
  });
});
