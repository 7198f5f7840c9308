// Live edits (PATCH /admin/events/:id): the operator's message, moving the start, stock up and
// down against what is promised (raced by real issues), the name; each seen by a second server's
// router, each in the audit trail, each refusal changing nothing.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, mysqlConn, NO_USER_LIMITS, pool, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";

setDefaultTimeout(120_000);

let s: Started;
let other: Started;
const db = mysqlConn();
const admin = { token: ADMIN_TOKEN };

beforeAll(async () => {
  s = await startServer({ ...NO_USER_LIMITS, QUEUE_SLOT_TTL_MS: "3600000" });
  // a second process on the same Redis and MySQL: its router's view learns of edits only by its refresh
  other = await startServer({ REDIS_KEY_PREFIX: s.prefix, ...NO_USER_LIMITS, QUEUE_SLOT_TTL_MS: "3600000" });
});
afterAll(async () => {
  await stopServer(other);
  await stopServer(s);
  await db.end();
});

const row = async (id: number) => ((await db.query("SELECT * FROM coupon_events WHERE id = ?", [id])) as [any[], unknown])[0][0];
const audit = async (id: number) => (await s.api.call("GET", `/admin/audit?eventId=${id}`, admin)).body.entries.filter((e: any) => e.action === "patch");
const inFuture = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString();
/** Waits until the other server's public view says what `check` wants; returns how long it took. */
async function seenElsewhere(id: number, check: (body: any) => boolean) {
  const t0 = performance.now();
  await waitFor("the other server's view", async () => check((await other.api.call("GET", `/api/events/${id}`)).body), 15_000, 25);
  return performance.now() - t0;
}

describe("live edits", () => {
  test("message: in the public view, the enter and poll replies, on every router; \"\" clears it; audited", async () => {
    const id = (await s.api.createEvent({ name: "msg", stock: 5, trafficRpm: 100, runningCapacity: 1, admitPerSecond: 1 })).body.id;
    expect((await s.api.call("GET", `/api/events/${id}`)).body.message).toBe("");
    expect((await other.api.call("GET", `/api/events/${id}`)).body.message).toBe("");
    // one running slot: the first is admitted, the next waits
    expect((await s.api.enter(id, "holder")).status).toBe(200);
    const w = await s.api.enter(id, "waiter");
    expect(w).toMatchObject({ status: 202, body: { status: "waiting", message: "" } });

    const text = "We are fixing a problem — your places are kept.\n잠시만 기다려 주세요 <b>not bold</b>";
    const r = await s.api.patch(id, { message: text });
    expect(r).toMatchObject({ status: 200, body: { id, message: text } });
    expect((await row(id)).message).toBe(text);
    expect(await s.redis.hget(eventKeys(s.prefix, id).meta, "message")).toBe(text);
    // this process at once; the other within a flush
    expect((await s.api.call("GET", `/api/events/${id}`)).body.message).toBe(text);
    const took = await seenElsewhere(id, (b) => b.message === text);
    console.log(`message seen by the other router after ${Math.round(took)} ms`);
    expect((await s.api.poll(id, "waiter")).body).toMatchObject({ status: "waiting", message: text });
    await waitFor("the other router's poll", async () => (await other.api.poll(id, "waiter")).body.message === text, 15_000, 25);
    expect((await s.api.enter(id, "waiter")).body.message).toBe(text);
    expect((await s.api.enter(id, "holder")).body).toMatchObject({ status: "admitted", message: text });
    expect((await s.api.stats(id)).body.message).toBe(text);

    expect((await s.api.patch(id, { message: "" })).body.message).toBe("");
    await seenElsewhere(id, (b) => b.message === "");
    const entries = await audit(id);
    expect(entries.map((e: any) => [e.before, e.after])).toContainEqual([{ message: text }, { message: "" }]);
  });

  test("message: over 280 characters or with control characters is a 400 that changes nothing", async () => {
    const id = (await s.api.createEvent({ name: "msg-bad", stock: 5, trafficRpm: 100, runningCapacity: 1, message: "kept" })).body.id;
    expect((await s.api.stats(id)).body.message).toBe("kept");
    for (const message of ["x".repeat(281), "bell\u0007", "nul\u0000", "esc\u001b[31m", "del\u007f", 5, null]) {
      const r = await s.api.patch(id, { message });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe("bad_request");
    }
    expect((await s.api.patch(id, { message: "y".repeat(280) })).status).toBe(200);
    expect((await row(id)).message).toBe("y".repeat(280));
  });

  test("startsAt: postponed and brought forward while scheduled, seen by every router; refused once started", async () => {
    const first = inFuture(3_600_000);
    const id = (await s.api.createEvent({ name: "moving", stock: 5, trafficRpm: 100, runningCapacity: 1, startsAt: first })).body.id;
    const later = inFuture(7_200_000);
    expect((await s.api.patch(id, { startsAt: later })).body).toMatchObject({ startsAt: later, status: "scheduled" });
    expect((await row(id)).starts_at.toISOString()).toBe(later);
    await seenElsewhere(id, (b) => b.startsAt === later);
    // brought forward to a moment away: it opens then, on every router, without anything else
    const soon = new Date(Date.now() + 2500).toISOString();
    expect((await s.api.patch(id, { startsAt: soon })).body).toMatchObject({ startsAt: soon, status: "scheduled" });
    expect((await s.api.enter(id, "early")).body.error).toBe("not_open");
    await seenElsewhere(id, (b) => b.status === "open");
    expect((await other.api.enter(id, "on-time")).status).toBe(200);
    // started: the start is history
    const refused = await s.api.patch(id, { startsAt: inFuture(60_000) });
    expect(refused).toMatchObject({ status: 409, body: { error: "not_scheduled" } });
    expect((await row(id)).starts_at.toISOString()).toBe(soon);
    expect((await audit(id)).map((e: any) => e.after.startsAt)).toEqual(expect.arrayContaining([later, soon]));
  });

  test("startsAt / queueOpensAt: the past, a pre-queue after the start, an open pre-queue are refused; nothing changes", async () => {
    const startsAt = inFuture(3_600_000);
    const id = (await s.api.createEvent({ name: "times", stock: 5, trafficRpm: 100, runningCapacity: 1, startsAt, endsAt: inFuture(7_200_000) })).body.id;
    const bad = [
      { startsAt: new Date(Date.now() - 1000).toISOString() },
      { startsAt: inFuture(8_000_000) }, // after endsAt
      { queueOpensAt: inFuture(4_000_000) }, // after startsAt
      { startsAt: "tomorrow" },
      { startsAt: null },
    ];
    for (const body of bad) expect((await s.api.patch(id, body)).status).toBe(400);
    expect((await row(id)).starts_at.toISOString()).toBe(startsAt);
    // moving both together is checked on the result
    const opens = inFuture(1000);
    const starts = inFuture(5_000_000);
    expect((await s.api.patch(id, { startsAt: starts, endsAt: inFuture(9_000_000), queueOpensAt: opens })).status).toBe(200);
    await waitFor("the pre-queue opens", async () => Date.now() > Date.parse(opens) + 50, 10_000);
    expect((await s.api.enter(id, "pre")).body.status).toBe("pre_queue");
    // once the pre-queue is open its opening stays; the start can still move
    expect((await s.api.patch(id, { queueOpensAt: inFuture(60_000) })).body.error).toBe("not_scheduled");
    expect((await s.api.patch(id, { queueOpensAt: null })).body.error).toBe("not_scheduled");
    const moved = inFuture(6_000_000);
    expect((await s.api.patch(id, { startsAt: moved })).body.startsAt).toBe(moved);
    expect((await s.api.poll(id, "pre")).body).toMatchObject({ status: "pre_queue", startsAt: moved });
  });

  test("stock up reopens a sold-out event on every router; down never below what is promised", async () => {
    const id = (await s.api.createEvent({ name: "stocked", stock: 2, trafficRpm: 100, runningCapacity: 5 })).body.id;
    for (const u of ["a", "b"]) {
      expect((await s.api.enter(id, u)).status).toBe(200);
      expect((await s.api.issue(id, u)).status).toBe(201);
    }
    await seenElsewhere(id, (b) => b.status === "sold_out");
    expect((await other.api.enter(id, "c")).body.error).toBe("sold_out");

    expect((await s.api.patch(id, { stock: 1 })).body).toMatchObject({ error: "stock_below_issued", issued: 2 });
    expect((await s.api.patch(id, { stock: 3 })).body).toMatchObject({ stock: 3, status: "open" });
    expect((await s.api.stats(id)).body).toMatchObject({ stock: 3, remaining: 1, issued: 2 });
    await seenElsewhere(id, (b) => b.status === "open" && b.remaining === 1);
    expect((await other.api.enter(id, "c")).status).toBe(200);
    expect((await other.api.issue(id, "c")).status).toBe(201);
    expect((await s.api.patch(id, { stock: 2 })).body.error).toBe("stock_below_issued");
    expect((await s.api.patch(id, { stock: 3 })).body.status).toBe("sold_out");
    expect((await row(id)).stock).toBe(3);
    expect((await audit(id)).map((e: any) => [e.before.stock, e.after.stock])).toEqual(expect.arrayContaining([[2, 3]]));
  });

  test("stock down raced by a rush of issues: never more promised than the stock, MySQL and Redis agree", async () => {
    const id = (await s.api.createEvent({ name: "race", stock: 60, trafficRpm: 100_000, runningCapacity: 1000 })).body.id;
    const users = Array.from({ length: 120 }, (_, i) => `r${i}`);
    let lowered = 0;
    const [issued] = await Promise.all([
      pool(users, 30, async (u) => {
        await s.api.enter(id, u);
        return (await s.api.issue(id, u)).status;
      }),
      (async () => {
        // lower the stock step by step while the rush runs; each step either takes or is refused whole
        for (let stock = 59; stock >= 20; stock--) {
          const r = await s.api.patch(id, { stock });
          expect([200, 409]).toContain(r.status);
          if (r.status === 200) lowered = stock;
          else expect(r.body.error).toBe("stock_below_issued");
        }
      })(),
    ]);
    const won = issued.filter((st) => st === 201).length;
    const st = (await s.api.stats(id)).body;
    expect(st.issued).toBe(won);
    expect(won).toBeLessThanOrEqual(st.stock);
    expect(st.stock).toBe((await row(id)).stock);
    expect(st.stock).toBe(lowered || 60);
    expect(st.remaining).toBe(st.stock - won);
    await waitFor("persisted", async () => (await s.api.stats(id)).body.persisted === won);
  });

  test("name: everywhere; an empty one or an unknown field is a 400", async () => {
    const id = (await s.api.createEvent({ name: "old name", stock: 5, trafficRpm: 100, runningCapacity: 1 })).body.id;
    expect((await s.api.patch(id, { name: "" })).status).toBe(400);
    expect((await s.api.patch(id, { name: "x".repeat(201) })).status).toBe(400);
    expect((await s.api.patch(id, { remaining: 100 })).status).toBe(400);
    expect((await s.api.patch(id, { stock: 0 })).status).toBe(400);
    expect((await s.api.patch(id, { name: "New name" })).body.name).toBe("New name");
    await seenElsewhere(id, (b) => b.name === "New name");
    expect((await row(id)).name).toBe("New name");
  });
});
