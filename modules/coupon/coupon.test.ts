import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { checkInvariants, mysqlConn, pool, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();

beforeAll(async () => {
  s = await startServer({ ISSUER_CLAIM_IDLE_MS: "2000" });
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

async function drained(id: number) {
  await waitFor("pending = 0", async () => (await s.api.stats(id)).body.pending === 0);
}

describe("issuance race", () => {
  test("5,000 attempts by 2,000 users for 500 coupons: exactly 500 issued, 500 rows, no duplicates", async () => {
    const ev = await s.api.createEvent({ name: "race", stock: 500, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 });
    expect(ev.status).toBe(201);
    const id = ev.body.id as number;
    const users = Array.from({ length: 2000 }, (_, i) => `race-${id}-${i}`);
    const entered = await pool(users, 400, (u) => s.api.enter(id, u));
    expect(entered.every((r) => r.status === 200 && r.body.status === "admitted")).toBe(true);

    // every user tries 2 or 3 times, all interleaved: 5,000 attempts in flight together
    const attempts = users.flatMap((u, i) => (i % 2 ? [u, u, u] : [u, u])).sort(() => Math.random() - 0.5);
    expect(attempts.length).toBe(5000);
    const replies = await pool(attempts, 500, (u) => s.api.issue(id, u).then((r) => ({ u, ...r })));

    const winners = replies.filter((r) => r.status === 201);
    const byStatus: Record<number, number> = {};
    for (const r of replies) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    console.log("race replies by status:", byStatus);
    expect(winners.length).toBe(500);
    expect(new Set(winners.map((w) => w.u)).size).toBe(500);
    expect(replies.every((r) => [201, 409, 410].includes(r.status))).toBe(true);
    for (const r of replies.filter((r) => r.status !== 201)) expect(["already_issued", "sold_out"]).toContain(r.body.error);

    await drained(id);
    const inv = await checkInvariants(db, id, 500, winners.map((w) => w.u));
    console.log("race invariants:", { ...inv, lost: inv.lost.length, phantom: inv.phantom.length });
    expect(inv).toEqual({ rows: 500, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    // the 201, the stream entry and the row carry one code per winner, all different
    const [rows] = (await db.query("SELECT user_id, code FROM coupon_issues WHERE event_id = ?", [id])) as [{ user_id: string; code: string }[], unknown];
    const replied = new Map(winners.map((w) => [w.u, w.body.code as string]));
    expect(new Set(replied.values()).size).toBe(500);
    for (const r of rows) expect(r.code).toBe(replied.get(r.user_id)!);
    for (const code of replied.values()) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/);
    const st = (await s.api.stats(id)).body;
    expect(st).toMatchObject({ stock: 500, remaining: 0, issued: 500, persisted: 500, pending: 0, dead: 0, status: "sold_out" });
  });

  test("stock larger than demand: every user gets exactly one", async () => {
    const ev = await s.api.createEvent({ name: "plenty", stock: 5000, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 });
    const id = ev.body.id as number;
    const users = Array.from({ length: 1000 }, (_, i) => `plenty-${id}-${i}`);
    await pool(users, 300, (u) => s.api.enter(id, u));
    const replies = await pool([...users, ...users], 400, (u) => s.api.issue(id, u).then((r) => ({ u, ...r })));
    const winners = replies.filter((r) => r.status === 201);
    expect(winners.length).toBe(1000);
    expect(replies.filter((r) => r.status === 409).length).toBe(1000);
    await drained(id);
    const inv = await checkInvariants(db, id, 5000, winners.map((w) => w.u));
    expect(inv).toEqual({ rows: 1000, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    const coupon = await s.api.coupon(id, users[0]!);
    expect(coupon.body).toEqual({ issued: true, persisted: true, code: winners.find((w) => w.u === users[0])!.body.code, redeemedAt: null });
    expect((await s.api.coupon(id, "never-came")).body).toEqual({ issued: false, persisted: false, code: null, redeemedAt: null });
  });

  test("a user who never entered cannot issue, and no stock is taken", async () => {
    const id = (await s.api.createEvent({ name: "skip", stock: 10, trafficRpm: 1_000_000_000, runningCapacity: 100 })).body.id;
    const r = await s.api.issue(id, "sneaky");
    expect(r.status).toBe(403);
    expect(r.body.error).toBe("not_admitted");
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 10, issued: 0 });
  });

  test("scheduled and closed events answer not_open", async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const id = (await s.api.createEvent({ name: "later", stock: 10, trafficRpm: 100, runningCapacity: 10, startsAt: later })).body.id;
    expect((await s.api.enter(id, "early")).status).toBe(409);
    expect((await s.api.issue(id, "early")).body.error).toBe("not_open");
    const id2 = (await s.api.createEvent({ name: "closing", stock: 10, trafficRpm: 100, runningCapacity: 10 })).body.id;
    expect((await s.api.enter(id2, "u1")).status).toBe(200);
    expect((await s.api.patch(id2, { endsAt: new Date(Date.now() + 50).toISOString() })).status).toBe(200);
    await Bun.sleep(100);
    expect((await s.api.issue(id2, "u1")).body.error).toBe("not_open");
    expect((await s.api.stats(id2)).body.status).toBe("closed");
  });
});

describe("the db-lock baseline (ISSUE_STRATEGY=db-lock)", () => {
  test("the same race never over-issues, and the Redis view agrees with MySQL", async () => {
    const lock = await startServer({ ISSUE_STRATEGY: "db-lock" });
    try {
      const id = (await lock.api.createEvent({ name: "db-lock race", stock: 100, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 })).body.id as number;
      const users = Array.from({ length: 400 }, (_, i) => `lock-${id}-${i}`);
      await pool(users, 200, (u) => lock.api.enter(id, u));
      const replies = await pool([...users, ...users, ...users].sort(() => Math.random() - 0.5), 200, (u) => lock.api.issue(id, u).then((r) => ({ u, ...r })));
      const winners = replies.filter((r) => r.status === 201).map((r) => r.u);
      expect(winners.length).toBe(100);
      expect(replies.every((r) => [201, 409, 410].includes(r.status))).toBe(true);
      expect(await checkInvariants(db, id, 100, winners)).toEqual({ rows: 100, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
      expect((await lock.api.stats(id)).body).toMatchObject({ remaining: 0, issued: 100, persisted: 100, pending: 0, status: "sold_out" });
      expect((await lock.api.issue(id, "lock-never-entered")).body.error).toBe("sold_out");
      expect((await lock.api.coupon(id, winners[0]!)).body).toEqual({ issued: true, persisted: true, code: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/), redeemedAt: null });
    } finally {
      await stopServer(lock);
    }
  });
});
