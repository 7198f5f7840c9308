// A redeem that took effect is never answered "failed" (issue #19, finding 6): the link to MariaDB
// is cut through a TCP proxy right after the UPDATE commits, or while its answer is on the way.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, NO_USER_LIMITS, cuttableProxy, mysqlConn, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";

setDefaultTimeout(120_000);

const db = mysqlConn();
const proxy = cuttableProxy(3306);
let s: Started;
const admin = { token: ADMIN_TOKEN };
const UPDATE = "UPDATE coupon_issues SET redeemed_at";
// the redeem and its webhook delivery commit together: the COMMIT is where it takes effect
const COMMIT = "COMMIT";

beforeAll(async () => {
  s = await startServer({ DATABASE_URL: proxy.url(), ...NO_USER_LIMITS });
});
afterAll(async () => {
  proxy.restore();
  await stopServer(s);
  proxy.stop();
  await db.end();
});

async function persistedCode(user: string) {
  const id = (await s.api.createEvent({ name: "redeem faults", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
  return (await s.api.storedCoupons(id, [user]))[0]!;
}
const redeem = (code: string, orderId: string) => s.api.call("POST", `/admin/coupons/${code}/redeem`, { ...admin, body: { orderId } });
const row = async (code: string) => ((await db.query("SELECT order_id, redeemed_at FROM coupon_issues WHERE code = ?", [code])) as any)[0][0];

describe("redeem under a failing MySQL link", () => {
  test("the link dies right after the redeem committed: 200 with the order (no read-back that can fail)", async () => {
    const code = await persistedCode("rf-1");
    proxy.cutOn(COMMIT, "after-reply", 5000);
    const r = await redeem(code, "order-1");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ code, orderId: "order-1" });
    expect(typeof r.body.redeemedAt).toBe("string");
    // the link really is dead now: a read-back after the UPDATE would have failed
    expect((await s.api.call("GET", `/admin/coupons/${code}`, admin)).status).toBe(503);
    proxy.restore();
    expect((await row(code)).order_id).toBe("order-1");
    expect(new Date((await row(code)).redeemed_at).toISOString()).toBe(r.body.redeemedAt);
  });

  test("the COMMIT's answer is lost and the link is back a second later: the row is read again, 200", async () => {
    proxy.restore();
    const code = await persistedCode("rf-2");
    proxy.cutOn(COMMIT, "reply", 1000);
    const r = await redeem(code, "order-2");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ code, orderId: "order-2" });
    expect((await row(code)).order_id).toBe("order-2");
  });

  test("the answer is lost and MySQL stays away: 504 outcome_unknown, never a failure; the retry is a 200", async () => {
    proxy.restore();
    const code = await persistedCode("rf-3");
    proxy.cutOn(COMMIT, "reply");
    const r = await redeem(code, "order-3");
    expect(r.status).toBe(504);
    expect(r.body.error).toBe("outcome_unknown");
    // it did take effect
    expect((await row(code)).order_id).toBe("order-3");
    proxy.restore();
    await waitFor("MySQL reachable again", async () => (await redeem(code, "order-3")).status === 200, 30_000, 300);
    expect((await redeem(code, "another")).body.error).toBe("already_redeemed");
  });

  test("the UPDATE never reaches MySQL: 503 unavailable, and nothing was redeemed", async () => {
    proxy.restore();
    const code = await persistedCode("rf-4");
    proxy.cutOn(UPDATE, "request", 500);
    const r = await redeem(code, "order-4");
    expect(r.status).toBe(503);
    expect((await row(code)).order_id).toBeNull();
  });
});
