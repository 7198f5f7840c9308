// Void and unredeem, as a shop's backend uses them: a void coupon cannot be redeemed and its stock
// stays spent; a cancelled order gives its coupon back; races settle on one story; bad input and
// keys without the scope change nothing.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, NO_USER_LIMITS, mysqlConn, startServer, stopServer, type Reply, type Started } from "../../scripts/testkit";

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

const post = (code: string, what: string, body: unknown, token = ADMIN_TOKEN) => s.api.call("POST", `/admin/coupons/${encodeURIComponent(code)}/${what}`, { token, body });
const lookup = (code: string) => s.api.call("GET", `/admin/coupons/${encodeURIComponent(code)}`, admin);
function expectError(r: Reply, status: number, code: string) {
  expect({ status: r.status, error: r.body?.error, message: typeof r.body?.message }).toEqual({ status, error: code, message: "string" });
}

async function issued(users: string[], stock = 100) {
  const id = (await s.api.createEvent({ name: "void and unredeem", stock, trafficRpm: 1_000_000_000, runningCapacity: 1000 })).body.id as number;
  return { id, codes: await s.api.storedCoupons(id, users) };
}

describe("void", () => {
  test("a void coupon cannot be redeemed (410 voided), voiding again is the same 200, and its stock stays spent", async () => {
    const { id, codes } = await issued(["v-1", "v-2"], 2);
    const [code] = codes as [string];
    const v = await post(code, "void", { reason: "fraud check failed" });
    expect(v.status).toBe(200);
    expect(v.body).toMatchObject({ code, eventId: id, userId: "v-1", redeemedAt: null, voidReason: "fraud check failed", voidedAt: expect.any(String) });
    expect(await post(code, "void", { reason: "another reason" })).toEqual({ status: 200, body: v.body });
    expect((await lookup(code)).body).toEqual(v.body);
    expectError(await post(code, "redeem", { orderId: "o-1" }), 410, "voided");
    expect((await lookup(code)).body).toMatchObject({ redeemedAt: null, orderId: null });
    // the stock is not given back: the event is sold out with two coupons out, one of them void
    const st = (await s.api.stats(id)).body;
    expect({ remaining: st.remaining, issued: st.issued, persisted: st.persisted, status: st.status }).toEqual({ remaining: 0, issued: 2, persisted: 2, status: "sold_out" });
    await s.api.enter(id, "v-3");
    expectError(await s.api.issue(id, "v-3"), 410, "sold_out");
    // recorded once, with who and why
    const audit = (await s.api.call("GET", `/admin/audit?eventId=${id}`, admin)).body.entries.filter((e: any) => e.action === "void");
    expect(audit).toEqual([expect.objectContaining({ actor: "root", target: code, after: { voidedAt: v.body.voidedAt, reason: "fraud check failed" } })]);
  });

  test("a redeemed coupon voided keeps its order; that order's retry is still its 200, any other order 410", async () => {
    const { codes } = await issued(["v-4"]);
    const code = codes[0]!;
    const r = await post(code, "redeem", { orderId: "order-7" });
    expect(r.status).toBe(200);
    const v = await post(code, "void", { reason: "chargeback" });
    expect(v.body).toMatchObject({ orderId: "order-7", redeemedAt: r.body.redeemedAt, voidReason: "chargeback" });
    expect((await post(code, "redeem", { orderId: "order-7" })).body).toMatchObject({ orderId: "order-7", voidedAt: v.body.voidedAt });
    expectError(await post(code, "redeem", { orderId: "order-8" }), 410, "voided");
  });

  test("50 voids racing 50 redeems on other orders: one story — either voided unredeemed, or redeemed by exactly one order then voided", async () => {
    const { codes } = await issued(["v-race"]);
    const code = codes[0]!;
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? post(code, "void", { reason: `r${i}` }) : post(code, "redeem", { orderId: `o${i}` }))));
    const final = (await lookup(code)).body;
    expect(final.voidedAt).not.toBeNull();
    const redeemed = replies.filter((r, i) => i % 2 === 0 && r.status === 200);
    for (const [i, r] of replies.entries()) {
      if (i % 2) expect(r).toEqual({ status: 200, body: final });
      else expect([200, 409, 410]).toContain(r.status);
    }
    if (final.orderId === null) expect(redeemed).toEqual([]);
    else expect(new Set(redeemed.map((r) => r.body.orderId))).toEqual(new Set([final.orderId]));
  });
});

describe("unredeem", () => {
  test("the cancelled order gives the coupon back; another order or a second unredeem is 409 not_redeemed_by_order", async () => {
    const { id, codes } = await issued(["u-1"]);
    const code = codes[0]!;
    expectError(await post(code, "unredeem", { orderId: "order-1" }), 409, "not_redeemed_by_order");
    expect((await post(code, "redeem", { orderId: "order-1" })).status).toBe(200);
    expectError(await post(code, "unredeem", { orderId: "order-2" }), 409, "not_redeemed_by_order");
    // byte for byte: a case variant is another order
    expectError(await post(code, "unredeem", { orderId: "ORDER-1" }), 409, "not_redeemed_by_order");
    const u = await post(code, "unredeem", { orderId: "order-1" });
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({ code, redeemedAt: null, orderId: null, voidedAt: null });
    expect((await lookup(code)).body).toEqual(u.body);
    expectError(await post(code, "unredeem", { orderId: "order-1" }), 409, "not_redeemed_by_order");
    // usable again, on a new order
    expect((await post(code, "redeem", { orderId: "order-2" })).body).toMatchObject({ orderId: "order-2" });
    const audit = (await s.api.call("GET", `/admin/audit?eventId=${id}`, admin)).body.entries.filter((e: any) => e.action === "unredeem");
    expect(audit).toEqual([expect.objectContaining({ target: code, before: { orderId: "order-1" } })]);
  });

  test("20 unredeems of the same order racing: exactly one 200, and a redeem racing them ends as one consistent row", async () => {
    const { codes } = await issued(["u-race"]);
    const code = codes[0]!;
    await post(code, "redeem", { orderId: "order-A" });
    const replies = await Promise.all(Array.from({ length: 20 }, () => post(code, "unredeem", { orderId: "order-A" })));
    expect(replies.filter((r) => r.status === 200).length).toBe(1);
    for (const r of replies.filter((r) => r.status !== 200)) expectError(r, 409, "not_redeemed_by_order");
    expect((await lookup(code)).body).toMatchObject({ redeemedAt: null, orderId: null });
    const [[row]] = (await db.query("SELECT order_id, redeemed_at FROM coupon_issues WHERE code = ?", [code])) as any;
    expect(row).toEqual({ order_id: null, redeemed_at: null });
  });
});

describe("bad input", () => {
  test("bodies that are not what the route takes: 400, nothing changes", async () => {
    const { codes } = await issued(["b-1"]);
    const code = codes[0]!;
    for (const body of [undefined, {}, { reason: "" }, { reason: "x".repeat(201) }, { reason: 5 }, { reason: "a\nb" }, { reason: "ok", extra: 1 }]) expect((await post(code, "void", body)).status).toBe(400);
    for (const body of [undefined, {}, { orderId: "" }, { orderId: "o".repeat(129) }, { orderId: ["o"] }, { orderId: "a\u0000" }]) expect((await post(code, "unredeem", body)).status).toBe(400);
    expect((await lookup(code)).body).toMatchObject({ voidedAt: null, redeemedAt: null });
    expectError(await post("00000-00000-00000-00000", "void", { reason: "x" }), 404, "not_found");
    expectError(await post("nope", "unredeem", { orderId: "x" }), 404, "not_found");
  });
});
