// Grants (a coupon for a user outside the line) and Idempotency-Key on create and grants, against a
// real server: the stock holds whatever mix of grants and issues races for it, one coupon per
// user, and a retried request never creates twice.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, checkInvariants, INTERNAL_TOKEN, mysqlConn, NO_USER_LIMITS, pool, startServer, stopServer, waitFor, type Reply, type Started } from "../../scripts/testkit";

setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();

beforeAll(async () => {
  s = await startServer({ ...NO_USER_LIMITS, RATE_LIMIT_ADMIN_PER_SEC: "0" });
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(s.url + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}
const grant = (id: number, userId: unknown, reason: unknown = "make-good", key?: string) => call("POST", `/admin/events/${id}/grants`, { userId, reason }, key ? { "idempotency-key": key } : {});
const create = (body: Record<string, unknown>, key?: string) => call("POST", "/admin/events", body, key ? { "idempotency-key": key } : {});
function expectError(r: Reply, status: number, code: string) {
  expect({ status: r.status, error: r.body?.error, message: typeof r.body?.message }).toEqual({ status, error: code, message: "string" });
}
const event = async (extra: Record<string, unknown> = {}) => (await create({ name: "grants", stock: 10, trafficRpm: 1_000_000_000, runningCapacity: 1000, ...extra })).body.id as number;

describe("grants", () => {
  test("a grant is a coupon like any other: 201 with a code, persisted, in the winners, redeemable; the same user again is 409 already_issued", async () => {
    const id = await event();
    const g = await grant(id, "support-case-1", "parcel lost");
    expect(g.status).toBe(201);
    expect(g.body).toEqual({ status: "issued", eventId: id, userId: "support-case-1", code: expect.stringMatching(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/), reason: "parcel lost" });
    await waitFor("persisted", async () => (await s.api.stats(id)).body.persisted === 1);
    expect((await s.api.stats(id)).body).toMatchObject({ issued: 1, remaining: 9 });
    expect((await call("GET", `/admin/events/${id}/issues`)).body.issues).toEqual([expect.objectContaining({ userId: "support-case-1", code: g.body.code })]);
    expect((await s.api.coupon(id, "support-case-1")).body).toMatchObject({ issued: true, persisted: true, code: g.body.code });
    expect((await call("POST", `/admin/coupons/${g.body.code}/redeem`, { orderId: "o-1" })).status).toBe(200);
    expectError(await grant(id, "support-case-1"), 409, "already_issued");
    // a user who took theirs through the line has it too
    await s.api.enter(id, "line-user");
    expect((await s.api.issue(id, "line-user")).status).toBe(201);
    expectError(await grant(id, "line-user"), 409, "already_issued");
    // and one granted cannot issue again
    await s.api.enter(id, "support-case-1");
    expectError(await s.api.issue(id, "support-case-1"), 409, "already_issued");
    const audit = (await call("GET", `/admin/audit?eventId=${id}`)).body.entries.filter((e: any) => e.action === "grant");
    expect(audit).toEqual([expect.objectContaining({ actor: "root", target: g.body.code, after: { userId: "support-case-1", code: g.body.code, reason: "parcel lost" } })]);
  });

  test("grants and issues racing for 30 coupons: exactly 30 promised and persisted, one per user", async () => {
    const id = await event({ stock: 30 });
    const users = Array.from({ length: 120 }, (_, i) => `race-${id}-${i}`);
    const outcomes = await pool(users, 40, async (u, i) => {
      if (i % 2) return (await grant(id, u)).status;
      await s.api.enter(id, u);
      return (await s.api.issue(id, u)).status;
    });
    expect(outcomes.filter((c) => c === 201).length).toBe(30);
    expect(outcomes.every((c) => [201, 403, 410].includes(c))).toBe(true);
    await waitFor("persisted", async () => (await s.api.stats(id)).body.pending === 0);
    const winners = users.filter((_, i) => outcomes[i] === 201);
    const inv = await checkInvariants(db, id, 30, winners);
    expect(inv).toMatchObject({ rows: 30, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
    expectError(await grant(id, "one-too-many"), 410, "sold_out");
  });

  test("closed events may still make good, cancelled ones not; unknown events 404; bad bodies 400 and nothing granted", async () => {
    const closed = await event();
    expect((await call("POST", `/admin/events/${closed}/close`)).status).toBe(200);
    expect((await grant(closed, "after-the-end")).status).toBe(201);
    const cancelled = await event({ startsAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await call("DELETE", `/admin/events/${cancelled}`)).status).toBe(200);
    expectError(await grant(cancelled, "nobody"), 409, "not_open");
    expectError(await grant(99_999_999, "nobody"), 404, "event_not_found");
    const id = await event();
    for (const [userId, reason] of [["", "r"], ["a b", "r"], ["x".repeat(65), "r"], [5, "r"], ["ok", ""], ["ok", "x".repeat(201)], ["ok", "a\nb"]] as const) {
      const r = await grant(id, userId, reason);
      expect({ userId, reason, status: r.status }).toEqual({ userId, reason, status: 400 });
    }
    expect((await call("POST", `/admin/events/${id}/grants`, { userId: "ok", reason: "r", extra: 1 })).status).toBe(400);
    expect((await call("POST", `/admin/events/${id}/grants`, { userId: "ok" })).status).toBe(400);
    expect((await s.api.stats(id)).body).toMatchObject({ issued: 0, remaining: 10 });
  });
});

describe("Idempotency-Key", () => {
  test("create: the same key and body twice → one event and the same reply; 20 at once → one event; another body → 422", async () => {
    const key = `create-${Date.now()}`;
    const body = { name: `idempotent ${key}`, stock: 5, trafficRpm: 0, runningCapacity: 1 };
    const first = await create(body, key);
    expect(first.status).toBe(201);
    const again = await create({ runningCapacity: 1, trafficRpm: 0, stock: 5, name: body.name }, key);
    expect({ status: again.status, body: again.body, replayed: again.headers.get("idempotent-replayed") }).toEqual({ status: 201, body: first.body, replayed: "true" });
    const [[n]] = (await db.query("SELECT COUNT(*) AS n FROM coupon_events WHERE name = ?", [body.name])) as any;
    expect(Number(n.n)).toBe(1);
    expectError(await create({ ...body, stock: 6 }, key), 422, "idempotency_key_reused");

    const burstKey = `burst-${Date.now()}`;
    const burst = { ...body, name: `burst ${burstKey}` };
    const replies = await Promise.all(Array.from({ length: 20 }, () => create(burst, burstKey)));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
    const [[m]] = (await db.query("SELECT COUNT(*) AS n FROM coupon_events WHERE name = ?", [burst.name])) as any;
    expect(Number(m.n)).toBe(1);
    // without a key, each request creates
    expect((await create(body)).body.id).not.toBe(first.body.id);
    for (const bad of ["", "x".repeat(65), "with space", "ключ"]) {
      const r = await fetch(`${s.url}/admin/events`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "idempotency-key": bad }, body: JSON.stringify(body) }).catch(() => null);
      // a header fetch itself refuses to send (non-ASCII) proves nothing; every one sent is a 400
      if (r) expect({ bad, status: r.status }).toEqual({ bad, status: 400 });
    }
  });

  test("grants: retries with the key get the first grant's reply, concurrent ones too; a failed grant frees the key", async () => {
    const id = await event({ stock: 2 });
    const replies = await Promise.all(Array.from({ length: 20 }, () => grant(id, "retry-user", "make-good", "grant-key-1")));
    expect(replies.every((r) => r.status === 201)).toBe(true);
    expect(new Set(replies.map((r) => r.body.code)).size).toBe(1);
    expect((await s.api.stats(id)).body).toMatchObject({ issued: 1 });
    expectError(await grant(id, "another-user", "make-good", "grant-key-1"), 422, "idempotency_key_reused");
    // the same key on another event is another request
    const other = await event();
    expect((await grant(other, "retry-user", "make-good", "grant-key-1")).status).toBe(201);
    // a refusal is not stored: after the stock is raised, the same key and body succeed
    expect((await grant(id, "second", "make-good", "k2")).status).toBe(201);
    expectError(await grant(id, "third", "make-good", "k3"), 410, "sold_out");
    expect((await s.api.patch(id, { stock: 3 })).status).toBe(200);
    expect((await grant(id, "third", "make-good", "k3")).status).toBe(201);
  });

  test("through a split router: the key and the replay reach the coupon role and back", async () => {
    const router = await startServer({ ROLE: "router", QUEUE_URL: s.url, COUPON_URL: s.url, INTERNAL_TOKEN });
    try {
      const viaRouter = (key: string) =>
        fetch(`${router.url}/admin/events`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "idempotency-key": key },
          body: JSON.stringify({ name: `split ${key}`, stock: 1, trafficRpm: 0, runningCapacity: 1 }),
        });
      const key = `split-${Date.now()}`;
      const [a, b] = [await viaRouter(key), await viaRouter(key)];
      expect([a.status, b.status, b.headers.get("idempotent-replayed")]).toEqual([201, 201, "true"]);
      expect((await b.json()).id).toBe((await a.json()).id);
    } finally {
      await stopServer(router);
    }
  });
});
