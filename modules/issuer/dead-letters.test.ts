import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, mysqlConn, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();
const victim = `dlq-victim-${Date.now().toString(36)}`;
const trigger = `reject_${victim.replace(/-/g, "_")}`;

beforeAll(async () => {
  s = await startServer({ ISSUER_CLAIM_IDLE_MS: "200", ISSUER_MAX_DELIVERIES: "2" });
  // MySQL rejects this one user's row as "data too long" (an entry fault) until the trigger is dropped
  await db.query(`CREATE TRIGGER ${trigger} BEFORE INSERT ON coupon_issues FOR EACH ROW BEGIN IF NEW.user_id = '${victim}' THEN SIGNAL SQLSTATE '22001' SET MYSQL_ERRNO = 1406, MESSAGE_TEXT = 'rejected for the test'; END IF; END`);
});
afterAll(async () => {
  await db.query(`DROP TRIGGER IF EXISTS ${trigger}`);
  await stopServer(s);
  await db.end();
});

const admin = { token: ADMIN_TOKEN };

describe("dead letters", () => {
  test("listed with their reason, replayed once, idempotently; malformed ones stay dead", async () => {
    const id = (await s.api.createEvent({ name: "dlq", stock: 10, trafficRpm: 1000, runningCapacity: 10 })).body.id as number;
    const k = eventKeys(s.prefix, id);
    await s.redis.xadd(k.stream, "*", "e", String(id), "u", victim, "t", String(Date.now()));
    await s.redis.xadd(k.stream, "*", "e", String(id), "t", String(Date.now())); // no user: can never be a row
    await waitFor("two dead letters", async () => (await s.api.stats(id)).body.dead === 2, 30_000);

    const list = await s.api.call("GET", `/admin/events/${id}/dead`, admin);
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(2);
    const good = list.body.entries.find((e: any) => e.userId === victim);
    const bad = list.body.entries.find((e: any) => e.userId === null);
    expect(good.reason).toContain("rejected for the test");
    expect(good.source).toMatch(/^\d+-\d+$/);
    expect(bad.reason).toBeTruthy();

    expect((await s.api.call("POST", `/admin/events/${id}/dead/${bad.entry}/retry`, admin)).status).toBe(422);
    expect((await s.api.call("POST", `/admin/events/${id}/dead/0-1/retry`, admin)).status).toBe(404);
    expect((await s.api.call("POST", `/admin/events/${id}/dead/..%2F..%2Fx/retry`, admin)).status).toBe(404);
    expect((await s.api.call("POST", `/admin/events/${id}/dead/${good.entry}/retry`)).status).toBe(401);
    expect((await s.api.call("GET", `/admin/events/999999999/dead`, admin)).status).toBe(404);

    await db.query(`DROP TRIGGER ${trigger}`);
    const first = await s.api.call("POST", `/admin/events/${id}/dead/${good.entry}/retry`, admin);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe("replayed");
    const again = await Promise.all([1, 2, 3].map(() => s.api.call("POST", `/admin/events/${id}/dead/${good.entry}/retry`, admin)));
    for (const r of again) expect(r.body).toEqual({ status: "already_replayed", entry: good.entry, streamId: first.body.streamId });

    await waitFor("replayed entry persisted", async () => {
      const st = (await s.api.stats(id)).body;
      return st.pending === 0 && st.dead === 1;
    });
    const [rows] = (await db.query("SELECT user_id FROM coupon_issues WHERE event_id = ?", [id])) as any;
    expect(rows.map((r: any) => r.user_id)).toEqual([victim]);
  });
});
