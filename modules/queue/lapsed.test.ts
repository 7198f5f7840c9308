// Manual events, places that survive stepping away: a slot that lapses unused keeps the front (never
// the back, never a silent re-queue), the pre-queue drops nobody for silence before its draw, each
// event may set its own slot and grace, and entering again does not count toward trafficRpm.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { eventKeys } from "../../src/redis";
import { NO_USER_LIMITS, startServer, stopServer, TEST_REDIS, waitFor, type Started } from "../../scripts/testkit";
import { mysqlSeedRecord, PreQueueDraw } from "./draw";

setDefaultTimeout(120_000);

const r = new Redis(TEST_REDIS);
afterAll(() => r.disconnect());

describe("places that survive (scheduler off, manual ticks)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", QUEUE_WAITER_TIMEOUT_MS: "300000", ...NO_USER_LIMITS });
  });
  afterAll(() => stopServer(s));

  test("a lapsed slot keeps the front: back via poll or enter, ahead of everyone who entered after, admitted at once when a slot is free", async () => {
    const id = (await s.api.createEvent({ name: "lapse", stock: 10, trafficRpm: 0, runningCapacity: 2, admitPerSecond: 100, slotSeconds: 10 })).body.id as number;
    for (const u of ["a", "b", "c", "d"]) expect((await s.api.enter(id, u)).status).toBe(202);
    const t0 = Date.now();
    expect((await s.queue.tick(id, t0)).admitted).toBe(2);
    const held = await s.api.poll(id, "a");
    expect(held.body).toMatchObject({ status: "admitted", slotSeconds: 10 });
    expect(held.body.lapsedAt).toBeUndefined();
    // the event's 10 s pass without a, b pressing issue: their slots lapse, c and d get them
    expect(await s.queue.tick(id, t0 + 11_000)).toMatchObject({ expired: 2, admitted: 2 });
    expect((await s.api.enter(id, "e")).body).toMatchObject({ status: "waiting", position: 1 });

    // a comes back (poll): ahead of e, told when the slot lapsed; no slot free yet
    const back = await s.api.poll(id, "a");
    // (read before toMatchObject: bun's asymmetric matchers write themselves into the object)
    const lapsedAt = back.body.lapsedAt as string;
    expect(Date.parse(lapsedAt)).toBe(t0 + 10_000);
    expect(back.body).toMatchObject({ status: "waiting", position: 1 });
    expect((await s.api.poll(id, "e")).body.position).toBe(2);
    // c issues: the freed slot goes to a, not to e
    expect((await s.api.issue(id, "c")).status).toBe(201);
    const again = await s.api.poll(id, "a");
    expect(again.body).toMatchObject({ status: "admitted", lapsedAt });
    // a issues; b has not come back, so nobody keeps the freed slot waiting: e (at the head) takes it
    expect((await s.api.issue(id, "a")).status).toBe(201);
    expect((await s.api.poll(id, "e")).body.status).toBe("admitted");

    // b comes back by entering again: at the front, ahead of f who enters after; d leaves, the next tick gives b the slot
    const bBack = (await s.api.enter(id, "b")).body;
    expect(bBack.lapsedAt).toEqual(expect.any(String));
    expect(bBack).toMatchObject({ status: "waiting", position: 1 });
    expect((await s.api.enter(id, "f")).body).toMatchObject({ status: "waiting", position: 2 });
    expect((await s.api.leave(id, "d")).status).toBe(204);
    expect((await s.queue.tick(id)).admitted).toBe(1);
    expect((await s.api.poll(id, "b")).body.status).toBe("admitted");
    expect((await s.api.poll(id, "f")).body).toMatchObject({ status: "waiting", position: 1 });
    expect((await s.api.issue(id, "b")).status).toBe(201); // f takes the freed slot
    expect((await s.api.poll(id, "f")).body.status).toBe("admitted");
    // e's and f's slots lapse; e comes back with both slots free: admitted at once, by the poll itself
    expect(await s.queue.tick(id, Date.now() + 11_000)).toMatchObject({ expired: 2 });
    const atOnce = (await s.api.poll(id, "e")).body;
    expect(atOnce.lapsedAt).toEqual(expect.any(String));
    expect(atOnce.status).toBe("admitted");
    expect(Date.parse(atOnce.expiresAt)).toBeGreaterThan(Date.now() + 5000);
    // a holder is done: the kept place goes with the coupon
    expect((await s.api.enter(id, "a")).body.error).toBe("already_issued");
    expect(await r.hexists(eventKeys(s.prefix, id).lapsed, "a")).toBe(0);
  });

  test("per-event slotSeconds and graceSeconds override the defaults (slot length, grace, poll pace)", async () => {
    const id = (await s.api.createEvent({ name: "own times", stock: 10, trafficRpm: 1_000_000, runningCapacity: 1, slotSeconds: 30, graceSeconds: 20 })).body.id as number;
    const first = await s.api.enter(id, "first");
    expect(first.body).toMatchObject({ status: "admitted", slotSeconds: 30 });
    expect(Math.abs(Date.parse(first.body.expiresAt) - (Date.now() + 30_000))).toBeLessThan(3000);
    const w = await s.api.enter(id, "waiter");
    expect(w.body).toMatchObject({ status: "waiting", graceSeconds: 20, slotSeconds: 30, claim: "manual", paused: false });
    expect(w.body.pollAfterMs).toBeLessThanOrEqual(20_000 / 3);
    // silent for longer than the event's 20 s (the server's default is 300 s): dropped at the head
    expect((await s.api.leave(id, "first")).status).toBe(204);
    expect(await s.queue.tick(id, Date.now() + 21_000)).toMatchObject({ stale: 1, admitted: 0 });
    // back to the defaults
    expect((await s.api.patch(id, { slotSeconds: null, graceSeconds: null })).body).toMatchObject({ slotSeconds: null, graceSeconds: null });
    const d = await s.api.enter(id, "later");
    expect(d.body).toMatchObject({ status: "admitted", slotSeconds: 120 });
  });

  test("entering again while in line, holding a slot or a coupon does not count toward trafficRpm", async () => {
    const id = (await s.api.createEvent({ name: "repeat enters", stock: 10, trafficRpm: 3, runningCapacity: 100 })).body.id as number;
    expect((await s.api.enter(id, "x")).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await s.api.enter(id, "x")).status).toBe(200); // holds a slot
    expect((await s.api.issue(id, "x")).status).toBe(201);
    for (let i = 0; i < 5; i++) expect((await s.api.enter(id, "x")).status).toBe(409); // holds a coupon
    // two newcomers fit under 3 a minute; the third waits, and waiting again and again counts once
    expect((await s.api.enter(id, "y")).status).toBe(200);
    expect((await s.api.enter(id, "z")).status).toBe(200);
    expect((await s.api.enter(id, "w")).status).toBe(202);
    for (let i = 0; i < 5; i++) expect((await s.api.enter(id, "w")).status).toBe(202);
    // counted: x, y, z, w once each (entering again and again would have made it 24)
    await waitFor("the rate flushed", async () => (await s.api.stats(id)).body.requestRate >= 4, 10_000, 100);
    await Bun.sleep(1000);
    expect((await s.api.stats(id)).body.requestRate).toBe(4);
  });
});

describe("a user back at a lapsed slot's place, seen from a router's view", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", QUEUE_WAITER_TIMEOUT_MS: "300000", ...NO_USER_LIMITS, RATE_FLUSH_MS: "100" });
  });
  afterAll(() => stopServer(s));

  test("does not move the head back: an admitted user's waiting ticket is answered 'admitted', and a waiter's estimate counts the returner", async () => {
    const id = (await s.api.createEvent({ name: "back at the front", stock: 100, trafficRpm: 0, runningCapacity: 4, admitPerSecond: 1, slotSeconds: 60 })).body.id as number;
    const user = (i: number) => `front-${id}-${i}`;
    const tickets: string[] = [];
    for (let i = 0; i < 10; i++) {
      const e = await s.api.enter(id, user(i));
      expect(e.status).toBe(202);
      tickets.push(e.body.ticket);
    }
    const withTicket = (i: number) => s.api.call("GET", `/api/events/${id}/queue`, { token: tickets[i]! });
    // user 0 admitted, its slot lapses unused; users 1–4 take the four slots without polling since
    const t0 = Date.now();
    expect((await s.queue.tick(id, t0)).admitted).toBe(1);
    expect(await s.queue.tick(id, t0 + 61_000)).toMatchObject({ expired: 1, admitted: 1 });
    for (let i = 2; i <= 4; i++) expect((await s.queue.tick(id, t0 + 60_000 + i * 1000)).admitted).toBe(1);
    // user 0 comes back: first in line again (sequence 1, which the head had passed), no slot free
    expect((await s.api.enter(id, user(0))).body).toMatchObject({ status: "waiting", position: 1 });
    await Bun.sleep(300); // the view has seen it

    // the old view's head was the returner's sequence: user 4's ticket (sequence 5) was answered "waiting", place 5
    expect((await withTicket(4)).body).toMatchObject({ status: "admitted" });
    // user 7 (sequence 8): the returner, then users 5, 6 and 7 — from the view too, never better than the truth
    expect((await s.api.poll(id, user(7))).body).toMatchObject({ status: "waiting", position: 4 });
    expect((await withTicket(7)).body).toMatchObject({ status: "waiting", position: 4 });
  });
});

describe("the pre-queue drops nobody for silence before its draw", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", QUEUE_WAITER_TIMEOUT_MS: "2000" });
  });
  afterAll(() => stopServer(s));

  test("pre-queued users silent for longer than the grace before the start keep their drawn places; the grace counts from the draw", async () => {
    const startsAt = Date.now() + 4000;
    const id = (await s.api.createEvent({ name: "silent pre-queue", stock: 10, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1, queueOpensAt: new Date().toISOString(), startsAt: new Date(startsAt).toISOString() })).body.id as number;
    for (const u of ["p1", "p2", "p3"]) expect((await s.api.enter(id, u)).body.status).toBe("pre_queue");
    // silent from here: 4 s before the start against a grace of 2 s
    await Bun.sleep(Math.max(0, startsAt - Date.now()) + 200);
    await s.queue.tick(id); // closes the pre-queue
    expect((await new PreQueueDraw(s.redis, s.prefix, mysqlSeedRecord(s.mysql!)).run(id)).status).toBe("drawn");
    const drawnAt = Date.now();
    // the head is admitted, not dropped
    expect(await s.queue.tick(id, drawnAt)).toMatchObject({ stale: 0, admitted: 1 });
    const [head] = await r.zrange(eventKeys(s.prefix, id).running, "0", "0");
    expect((await s.api.leave(id, head!)).status).toBe(204);
    // once the grace has passed since the draw, silent heads are dropped as usual
    expect(await s.queue.tick(id, drawnAt + 3000)).toMatchObject({ stale: 2, admitted: 0 });
  });
});
