// Redemption by the shop's backend: the race (exactly one order wins), idempotency per order,
// expiry, unknown codes, codes as people type them, and bad input that changes nothing.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, NO_USER_LIMITS, mysqlConn, startServer, stopServer, TEST_DB, waitFor, type Reply, type Started } from "../../scripts/testkit";

setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();
const admin = { token: ADMIN_TOKEN };

beforeAll(async () => {
  s = await startServer(NO_USER_LIMITS);
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

const redeem = (code: string, orderId: unknown) => s.api.call("POST", `/admin/coupons/${encodeURIComponent(code)}/redeem`, { ...admin, body: { orderId } });
const lookup = (code: string) => s.api.call("GET", `/admin/coupons/${encodeURIComponent(code)}`, admin);

function expectError(r: Reply, status: number, code?: string) {
  expect(r.status).toBe(status);
  expect(typeof r.body?.error).toBe("string");
  expect(typeof r.body?.message).toBe("string");
  if (code) expect(r.body.error).toBe(code);
}

/** An event with `users` coupons issued and persisted; returns the event id and each user's code. */
async function issued(users: string[], extra: Record<string, unknown> = {}) {
  const ev = await s.api.createEvent({ name: "redeemable", stock: 100, trafficRpm: 1_000_000_000, runningCapacity: 1000, ...extra });
  expect(ev.status).toBe(201);
  const id = ev.body.id as number;
  return { id, codes: await s.api.storedCoupons(id, users) };
}

describe("redemption", () => {
  test("100 concurrent redeems of one code with different orders: exactly one 200, 99 × 409; the row names the winner", async () => {
    const { id, codes } = await issued(["race-holder"]);
    const code = codes[0]!;
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => redeem(code, `order-${i}`)));
    const ok = replies.filter((r) => r.status === 200);
    const conflicts = replies.filter((r) => r.status === 409);
    expect(ok.length).toBe(1);
    expect(conflicts.length).toBe(99);
    for (const r of conflicts) expectError(r, 409, "already_redeemed");
    const winner = ok[0]!.body;
    expect({ ...winner }).toMatchObject({ code, eventId: id, userId: "race-holder", orderId: expect.stringMatching(/^order-\d+$/), redeemedAt: expect.any(String) });
    const [[row]] = (await db.query("SELECT order_id, redeemed_at FROM coupon_issues WHERE code = ?", [code])) as [any[], unknown];
    expect(row.order_id).toBe(winner.orderId);
    expect(new Date(row.redeemed_at).toISOString()).toBe(winner.redeemedAt);
    // the winning order again: the same 200, byte for byte, however often
    for (const r of await Promise.all(Array.from({ length: 20 }, () => redeem(code, winner.orderId)))) expect(r).toEqual({ status: 200, body: winner });
    expect((await lookup(code)).body).toEqual(winner);
  });

  test("100 concurrent redeems of one code with the same order: every one the same 200", async () => {
    const { codes } = await issued(["same-order"]);
    const replies = await Promise.all(Array.from({ length: 100 }, () => redeem(codes[0]!, "order-A")));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(new Set(replies.map((r) => JSON.stringify(r.body))).size).toBe(1);
    // another order, differing only in case, is another order
    expectError(await redeem(codes[0]!, "ORDER-A"), 409, "already_redeemed");
  });

  test("past couponValidUntil: 410 expired, and the coupon stays unredeemed; one redeemed in time keeps its 200", async () => {
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    const { id, codes } = await issued(["exp-1", "exp-2"], { startsAt, couponValidUntil: new Date(Date.now() + 3_600_000).toISOString() });
    const early = await redeem(codes[0]!, "in-time");
    expect(early.status).toBe(200);
    expect(early.body.validUntil).toBe((await s.api.stats(id)).body.couponValidUntil);
    expect((await s.api.patch(id, { couponValidUntil: new Date(Date.now() - 1000).toISOString() })).status).toBe(200);
    expectError(await redeem(codes[1]!, "too-late"), 410, "expired");
    expect((await lookup(codes[1]!)).body).toMatchObject({ redeemedAt: null, orderId: null });
    // a retry of the order that redeemed in time is still that order's 200
    expect(await redeem(codes[0]!, "in-time")).toEqual({ status: 200, body: { ...early.body, validUntil: expect.any(String) } });
    expectError(await redeem(codes[0]!, "another"), 409, "already_redeemed");
  });

  test("codes as people type them: any case, spaces instead of dashes, O for 0 and I or L for 1", async () => {
    const { codes } = await issued(["typist"]);
    const code = codes[0]!;
    const typed = code.toLowerCase().replace(/-/g, " ").replace(/0/g, "o").replace(/1/g, "l");
    expect((await lookup(typed)).body.code).toBe(code);
    expect((await lookup(code.replace(/-/g, ""))).body.code).toBe(code);
    expect((await redeem(` ${typed} `, "typed")).body).toMatchObject({ code, orderId: "typed" });
  });

  test("unknown and malformed codes: 404; bad order ids: 400; none of it changes anything", async () => {
    const { codes } = await issued(["guarded"]);
    const code = codes[0]!;
    const unknown = "00000-00000-00000-00000";
    for (const c of [unknown, "nope", "", " ", "x".repeat(64), "%", "..%2F..%2Fadmin", "ABCDE-ABCDE-ABCDE-ABCD!", "💳"]) {
      const path = `/admin/coupons/${c}`;
      expectError(await s.api.call("GET", path, admin), 404);
      const r = await s.api.call("POST", `${path}/redeem`, { ...admin, body: { orderId: "o" } });
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(typeof r.body?.error).toBe("string");
    }
    expectError(await redeem(unknown, "o"), 404, "not_found");
    expectError(await s.api.call("GET", "/admin/coupons/%E0%A4%A", admin), 404);
    expectError(await s.api.call("POST", "/admin/coupons/%E0%A4%A/redeem", { ...admin, body: { orderId: "o" } }), 404);

    const bodies: [string, () => Promise<Reply>][] = [
      ["no body", () => s.api.call("POST", `/admin/coupons/${code}/redeem`, admin)],
      ["malformed JSON", () => s.api.call("POST", `/admin/coupons/${code}/redeem`, { ...admin, raw: '{"orderId":', headers: { "content-type": "application/json" } })],
      ["empty object", () => s.api.call("POST", `/admin/coupons/${code}/redeem`, { ...admin, body: {} })],
      ["orderId empty", () => redeem(code, "")],
      ["orderId 129 chars", () => redeem(code, "o".repeat(129))],
      ["orderId a number", () => redeem(code, 42)],
      ["orderId null", () => redeem(code, null)],
      ["orderId an array", () => redeem(code, ["a"])],
      ["orderId with a newline", () => redeem(code, "a\nb")],
      ["orderId with a NUL", () => redeem(code, "a\u0000b")],
      ["an unknown field", () => s.api.call("POST", `/admin/coupons/${code}/redeem`, { ...admin, body: { orderId: "o", userId: "x" } })],
    ];
    for (const [label, call] of bodies) {
      const r = await call();
      if (r.status !== 400) console.error(label, r.status, r.body);
      expectError(r, 400);
    }
    // 128 characters of any script is a fine order id; the coupon is still unredeemed before it
    expect((await lookup(code)).body).toMatchObject({ redeemedAt: null, orderId: null });
    const long = "é".repeat(64) + "订".repeat(64);
    expect((await redeem(code, long)).body.orderId).toBe(long);
  });

  test("a code promised but not yet persisted answers 409 pending with Retry-After (never 404) until its row exists, then is redeemable", async () => {
    // no issuer: the 201 is a promise whose row does not exist yet
    const q = await startServer({ ISSUER: "off" });
    try {
      const id = (await q.api.createEvent({ name: "not yet", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
      await q.api.enter(id, "early-bird");
      const code = (await q.api.issue(id, "early-bird")).body.code as string;
      expect((await q.api.coupon(id, "early-bird")).body).toMatchObject({ issued: true, persisted: false, code, redeemedAt: null });
      const typed = code.toLowerCase().replace(/-/g, " ");
      for (const [method, path, body] of [
        ["GET", `/admin/coupons/${code}`, undefined],
        ["GET", `/admin/coupons/${encodeURIComponent(typed)}`, undefined],
        ["POST", `/admin/coupons/${code}/redeem`, { orderId: "o" }],
        ["POST", `/admin/coupons/${code}/void`, { reason: "r" }],
        ["POST", `/admin/coupons/${code}/unredeem`, { orderId: "o" }],
      ] as const) {
        const res = await fetch(`${q.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
        expect({ path, status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() }).toEqual({
          path,
          status: 409,
          retryAfter: "1",
          body: { error: "pending", message: expect.any(String), eventId: id },
        });
      }
      // a code nobody was promised is still a 404
      expectError(await q.api.call("GET", `/admin/coupons/${code.replace(/^./, (c) => (c === "A" ? "B" : "A"))}`, admin), 404, "not_found");
      // an issuer (another process on the same Redis) persists it
      const w = await startServer({ REDIS_KEY_PREFIX: q.prefix, QUEUE_SCHEDULER: "off" });
      await waitFor("persisted", async () => (await q.api.stats(id)).body.persisted === 1).finally(() => w.stop());
      expect((await q.api.call("POST", `/admin/coupons/${code}/redeem`, { ...admin, body: { orderId: "o" } })).body).toMatchObject({ code, orderId: "o" });
    } finally {
      await stopServer(q);
    }
  });

  test("a database that cannot hold an order id's characters (latin1) answers 400, not 500, and the coupon stays unredeemed", async () => {
    const url = TEST_DB.replace(/\/([^/?]+)$/, "/$1_latin1");
    const name = new URL(url).pathname.slice(1);
    await db.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await db.query(`CREATE DATABASE \`${name}\` CHARACTER SET latin1`);
    const q = await startServer({ DATABASE_URL: url });
    try {
      const id = (await q.api.createEvent({ name: "latin1", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
      await q.api.enter(id, "latin-user");
      const code = (await q.api.issue(id, "latin-user")).body.code as string;
      await waitFor("persisted", async () => (await q.api.stats(id)).body.persisted === 1);
      const r = await q.api.call("POST", `/admin/coupons/${code}/redeem`, { ...admin, body: { orderId: "订单-1" } });
      expectError(r, 400, "bad_request");
      expect((await q.api.call("GET", `/admin/coupons/${code}`, admin)).body).toMatchObject({ redeemedAt: null, orderId: null });
      expect((await q.api.call("POST", `/admin/coupons/${code}/redeem`, { ...admin, body: { orderId: "order-1" } })).body.orderId).toBe("order-1");
    } finally {
      await stopServer(q);
      await db.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
  });
});
