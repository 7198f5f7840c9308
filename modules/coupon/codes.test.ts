// Coupon codes under a rush, and a user's own list of coupons: the 201, the stream, the row and the
// user's views all carry one code, unique across every issuance.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { checkInvariants, mysqlConn, NO_USER_LIMITS, pool, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import type { Mysql } from "../../src/db";
import { IssuerService } from "../issuer/service";
import { normalizeCode } from "./code";
import { MyCoupons } from "./mine";

setDefaultTimeout(300_000);

let s: Started;
const db = mysqlConn();
const CODE = /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/;

beforeAll(async () => {
  s = await startServer(NO_USER_LIMITS);
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

const mine = (user: string) => s.api.call("GET", "/api/me/coupons", { token: token(user) });

describe("codes", () => {
  test("a rush of 10,000 issuances: every 201 carries a well-formed code, all distinct, each equal to its row's", async () => {
    const N = 10_000;
    const ev = await s.api.createEvent({ name: "code rush", stock: N, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 });
    const id = ev.body.id as number;
    const users = Array.from({ length: N }, (_, i) => `cr-${id}-${i}`);
    const codes = new Map<string, string>();
    await pool(users, 200, async (u) => {
      const entered = await s.api.enter(id, u);
      expect(entered.status).toBe(200);
      const r = await s.api.issue(id, u);
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ status: "issued", eventId: id, userId: u, code: expect.stringMatching(CODE) });
      codes.set(u, r.body.code);
    });
    expect(codes.size).toBe(N);
    expect(new Set(codes.values()).size).toBe(N);
    for (const c of codes.values()) expect(normalizeCode(c)).toBe(c);

    await waitFor("every issuance persisted", async () => (await s.api.stats(id)).body.persisted === N);
    const inv = await checkInvariants(db, id, N, codes.keys());
    expect(inv).toEqual({ rows: N, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    const [rows] = (await db.query("SELECT user_id, code FROM coupon_issues WHERE event_id = ?", [id])) as [{ user_id: string; code: string }[], unknown];
    for (const r of rows) expect(r.code).toBe(codes.get(r.user_id)!);
    // and the Redis promise (issued hash) holds the same code
    const sample = users.filter((_, i) => i % 997 === 0);
    for (const u of sample) expect((await s.api.coupon(id, u)).body).toEqual({ issued: true, persisted: true, code: codes.get(u), redeemedAt: null });
    console.log(`code rush: ${N} codes, ${new Set(codes.values()).size} distinct, ${rows.length} rows matching`);
  });
});

/** A new user with a coupon promised on a new event of `q` (a server without an issuer: no row yet). */
async function promisedOnly(q: Started, who: string, eventName: string) {
  const user = `${who}-${Date.now().toString(36)}`;
  const id = (await q.api.createEvent({ name: eventName, stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
  await q.api.enter(id, user);
  return { user, id, code: (await q.api.issue(id, user)).body.code as string };
}

describe("GET /api/me/coupons", () => {
  test("a user's coupons across events, newest first, with event name, validity and redemption", async () => {
    const user = `me-${Date.now().toString(36)}`;
    const until = new Date(Date.now() + 86_400_000).toISOString();
    const a = (await s.api.createEvent({ name: "First sale", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10, couponValidUntil: until })).body.id as number;
    const b = (await s.api.createEvent({ name: "Second sale", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
    const other = (await s.api.createEvent({ name: "Not mine", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
    expect((await mine(user)).body).toEqual({ coupons: [] });
    const codes: Record<number, string> = {};
    for (const id of [a, b]) {
      await s.api.enter(id, user);
      codes[id] = (await s.api.issue(id, user)).body.code;
    }
    await s.api.enter(other, `${user}-x`);
    await s.api.issue(other, `${user}-x`);
    await waitFor("persisted", async () => (await mine(user)).body.coupons.every((c: { persisted: boolean }) => c.persisted));
    const redeemed = await s.api.call("POST", `/admin/coupons/${codes[a]}/redeem`, { token: "test-admin-token", body: { orderId: "ord-1" } });
    expect(redeemed.status).toBe(200);

    const r = await mine(user);
    expect(r.status).toBe(200);
    expect(r.body.coupons).toEqual([
      { eventId: b, eventName: "Second sale", code: codes[b], issuedAt: expect.any(String), redeemedAt: null, validUntil: null, persisted: true },
      { eventId: a, eventName: "First sale", code: codes[a], issuedAt: expect.any(String), redeemedAt: redeemed.body.redeemedAt, validUntil: until, persisted: true },
    ]);
    expect(Date.parse(r.body.coupons[0].issuedAt)).toBeGreaterThanOrEqual(Date.parse(r.body.coupons[1].issuedAt));
  });

  test("a coupon promised but not yet persisted is listed (and GET …/coupon shows its code) before its row exists", async () => {
    const q = await startServer({ ISSUER: "off" });
    try {
      const { user, id, code } = await promisedOnly(q, "pending", "Just now");
      expect((await q.api.coupon(id, user)).body).toEqual({ issued: true, persisted: false, code, redeemedAt: null });
      const listed = await q.api.call("GET", "/api/me/coupons", { token: token(user) });
      expect(listed.body.coupons).toEqual([{ eventId: id, eventName: "Just now", code, issuedAt: null, redeemedAt: null, validUntil: null, persisted: false }]);
    } finally {
      await stopServer(q);
    }
  });

  test("a coupon whose row the issuer stores between the list's two reads is listed, as stored", async () => {
    const q = await startServer({ ISSUER: "off" });
    try {
      const { user, id, code } = await promisedOnly(q, "between", "In between");
      const issuer = new IssuerService(q.redis, q.mysql!, q.prefix, async () => [id], { ...q.config.issuer, enabled: true, consumerName: `between-${id}` });
      // the list's first MySQL read answers from before the row; the issuer stores the row before that answer arrives
      let reads = 0;
      const pool = new Proxy(q.mysql!.pool, {
        get(target, prop) {
          if (prop !== "query") return Reflect.get(target, prop);
          return async (...args: unknown[]) => {
            const answer = await (target.query as (...a: unknown[]) => Promise<unknown>)(...args);
            if (reads++ === 0) {
              expect(await issuer.drainOnce()).toBe(1);
              expect(issuer.stats.persisted).toBe(1);
            }
            return answer;
          };
        },
      });
      const listed = await new MyCoupons(q.redis, { ...q.mysql!, pool } as Mysql, q.prefix).list(user);
      await issuer.stop();
      expect(reads).toBe(2);
      expect(listed.coupons).toEqual([{ eventId: id, eventName: "In between", code, issuedAt: expect.any(String), redeemedAt: null, validUntil: null, persisted: true }]);
    } finally {
      await stopServer(q);
    }
  });
});
