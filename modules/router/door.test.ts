// The door at flash-crowd scale: the router's view of each event, waiting tickets and cheap polls.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { createHmac } from "node:crypto";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, client, JWT_SECRET, metricValue, NO_USER_LIMITS, pool, startServer, stopServer, TEST_REDIS, token, waitFor, type Started } from "../../scripts/testkit";
import { Tickets } from "../queue/ticket";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const r = new Redis(TEST_REDIS);
afterAll(() => r.disconnect());

const withTicket = (s: Started, method: string, path: string, ticket: string) => s.api.call(method, path, { token: ticket });
const past = (ms: number) => new Date(Date.now() - ms).toISOString();
const future = (ms: number) => new Date(Date.now() + ms).toISOString();

describe("the view never lets a stale fact through", () => {
  let a: Started, b: Started;
  beforeAll(async () => {
    // two routers (two ROLE=all processes) on one Redis prefix, as two router processes would be
    a = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off" });
    b = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off", REDIS_KEY_PREFIX: a.prefix });
  });
  afterAll(async () => {
    await b.stop();
    await stopServer(a);
  });

  test("an event reopened by PATCH: at once where it was patched, within a flush on the other router", async () => {
    const id = (await a.api.createEvent({ name: "reopen", stock: 10, trafficRpm: 1_000_000, runningCapacity: 10, startsAt: past(60_000), endsAt: past(30_000) })).body.id as number;
    for (const s of [a, b]) expect((await s.api.enter(id, "early")).body.error).toBe("not_open");
    expect(a.view!.lookup(id)).toBeTruthy(); // the refusal came from memory
    expect((await a.api.patch(id, { endsAt: future(3600_000) })).status).toBe(200);
    expect((await a.api.enter(id, "u1")).status).toBe(200);
    await waitFor("router b sees the reopened event", async () => (await b.api.enter(id, "u2")).status === 200, 5000, 20);
    expect((await b.api.call("GET", `/api/events/${id}`)).body.status).toBe("open");
  });

  test("a stale 'open' goes to Lua: the other router's last coupon is never sold twice", async () => {
    const id = (await a.api.createEvent({ name: "last one", stock: 1, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    for (const [s, u] of [[a, "x"], [b, "y"]] as const) expect((await s.api.enter(id, u)).status).toBe(200);
    expect((await a.api.issue(id, "x")).status).toBe(201);
    // b's view may still say one is left: its answers come from the scripts, which know better
    expect((await b.api.issue(id, "y")).body.error).toBe("sold_out");
    expect((await b.api.enter(id, "z")).body.error).toBe("sold_out");
  });

  test("operator controls reach the view at once where they were made: pause still queues, close refuses", async () => {
    const id = (await a.api.createEvent({ name: "controls", stock: 10, trafficRpm: 0, runningCapacity: 10 })).body.id as number;
    expect((await a.api.enter(id, "p1")).status).toBe(202);
    expect(a.view!.lookup(id)).toBeTruthy();
    expect((await a.api.call("POST", `/admin/events/${id}/pause`, { token: ADMIN_TOKEN })).status).toBe(200);
    expect(a.view!.lookup(id)).toBeUndefined();
    const paused = await a.api.enter(id, "p2");
    expect(paused.body).toMatchObject({ status: "waiting", position: 2, etaSeconds: null });
    expect((await a.api.call("POST", `/admin/events/${id}/close`, { token: ADMIN_TOKEN })).status).toBe(200);
    expect((await a.api.enter(id, "p3")).body.error).toBe("not_open");
    expect((await a.api.poll(id, "p1")).body).toEqual({ status: "closed" });
    await waitFor("router b sees it closed", async () => (await b.api.enter(id, "p4")).body.error === "not_open", 5000, 20);
  });

  test("stock rebuilt in Redis (a reconciliation elsewhere) is seen within a flush; a reconciliation here drops the snapshot at once", async () => {
    const id = (await a.api.createEvent({ name: "restock", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    const k = eventKeys(a.prefix, id);
    await r.hset(k.meta, "remaining", "0");
    await waitFor("both routers see it sold out", async () => (await a.api.enter(id, "s1")).status === 410 && (await b.api.enter(id, "s1")).status === 410, 5000, 20);
    await r.hset(k.meta, "remaining", "5");
    await waitFor("router b sees the stock again", async () => (await b.api.enter(id, "s2")).status === 200, 5000, 20);
    await r.hset(k.meta, "remaining", "0");
    await waitFor("router a sees it sold out", async () => (await a.api.enter(id, "s3")).status === 410, 5000, 20);
    await r.hset(k.meta, "remaining", "5");
    await a.events!.reconcile(id); // remaining 5 = stock − 0 issued: kept; the snapshot is dropped
    expect(a.view!.lookup(id)).toBeUndefined();
    expect((await a.api.enter(id, "s4")).status).toBe(200);
  });

  test("a dropped Redis connection forgets everything the view knew", async () => {
    const id = (await a.api.createEvent({ name: "reconnect", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    expect((await a.api.enter(id, "c1")).status).toBe(200);
    expect(a.view!.lookup(id)).toBeTruthy();
    const closed = new Promise((resolve) => a.redis.once("close", resolve));
    await r.client("KILL", "ID", String(await a.redis.client("ID")));
    await closed;
    expect(a.view!.lookup(id)).toBeUndefined();
    await waitFor("reconnected", async () => a.redis.status === "ready", 10_000, 20);
    expect((await a.api.enter(id, "c2")).status).toBe(200);
  });

  test("unknown ids: one read each, then answered from memory; a new event is known at once where it was created", async () => {
    const loads = a.view!.counts.loads;
    for (let i = 0; i < 20; i++) expect((await a.api.enter(2_000_000_000, "nobody")).body.error).toBe("event_not_found");
    expect(a.view!.counts.loads - loads).toBeLessThanOrEqual(2); // at most once more after a flush forgot it
    const id = (await a.api.createEvent({ name: "fresh", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
    expect((await a.api.enter(id, "n1")).status).toBe(200);
    await waitFor("router b knows it within a flush", async () => (await b.api.enter(id, "n2")).status === 200, 5000, 20);
  });
});

describe("waiting tickets and cheap polls", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off", QUEUE_WAITER_TIMEOUT_MS: "300000", ...NO_USER_LIMITS });
  });
  afterAll(() => stopServer(s));

  test("positions from the view vs the exact script on a line with leavers: never better, off by exactly the leavers ahead", async () => {
    const id = (await s.api.createEvent({ name: "leavers", stock: 1000, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 5 })).body.id as number;
    const users = Array.from({ length: 300 }, (_, i) => `lv-${id}-${i}`);
    const tickets = new Map<string, { seq: number; ticket: string }>();
    for (const u of users) {
      const e = await s.api.enter(id, u);
      expect(e.status).toBe(202);
      tickets.set(u, { seq: e.body.position, ticket: e.body.ticket });
    }
    const leavers = new Set(users.filter((_, i) => i % 3 === 1 || (i > 100 && i < 130)));
    for (const u of leavers) expect((await withTicket(s, "DELETE", `/api/events/${id}/queue`, tickets.get(u)!.ticket)).status).toBe(204);
    await s.queue.tick(id); // the head (user 0) takes the one slot
    s.view!.invalidate(id);

    let exactCalls = 0;
    const poll = s.queue.poll.bind(s.queue);
    s.queue.poll = (...args) => (exactCalls++, poll(...args));
    const stay = users.filter((u, i) => i > 0 && !leavers.has(u));
    let cheap = 0;
    try {
      for (const u of stay) {
        const { seq, ticket } = tickets.get(u)!;
        const before = exactCalls;
        const est = await withTicket(s, "GET", `/api/events/${id}/queue`, ticket);
        const fromView = exactCalls === before;
        const exact = await s.api.poll(id, u);
        expect(est.status).toBe(200);
        expect(exact.body.status).toBe("waiting");
        // the view's head is user 2 (seq 3: user 0 holds the slot, user 1 left); its estimate counts every sequence from there
        const leftAhead = [...leavers].filter((l) => tickets.get(l)!.seq < seq && tickets.get(l)!.seq > 3).length;
        if (fromView) {
          cheap++;
          expect(est.body.position).toBe(exact.body.position + leftAhead);
          expect(est.body).toMatchObject({ status: "waiting", remaining: 1000, running: 1 });
          expect(est.body.ticket).toBeUndefined();
        } else {
          expect(est.body.position).toBe(exact.body.position);
        }
        expect(est.body.position).toBeGreaterThanOrEqual(exact.body.position);
      }
    } finally {
      s.queue.poll = poll;
    }
    // near the head (within 2 × admitPerSecond places) the exact script answers; everyone else from memory
    expect(cheap).toBeGreaterThan(stay.length - 15);
    expect(cheap).toBeLessThan(stay.length);
  });

  test("tickets: enter hands one out; poll, leave and issue take it in place of the user's token", async () => {
    const id = (await s.api.createEvent({ name: "tickets", stock: 5, trafficRpm: 0, runningCapacity: 5 })).body.id as number;
    const e = await s.api.enter(id, "holder");
    expect(e.status).toBe(202);
    expect(typeof e.body.ticket).toBe("string");
    const t = e.body.ticket as string;
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, t)).body).toMatchObject({ status: "waiting", position: 1 });
    await s.queue.tick(id);
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, t)).body.status).toBe("admitted");
    // the shop's token may have lapsed long ago: the ticket still takes the coupon
    const issued = await withTicket(s, "POST", `/api/events/${id}/issue`, t);
    expect(issued.status).toBe(201);
    expect(issued.body.userId).toBe("holder");
    expect((await withTicket(s, "POST", `/api/events/${id}/issue`, t)).body.error).toBe("already_issued");
    // a ticket is not a user token: routes that take only the user's token refuse it
    expect((await withTicket(s, "GET", `/api/events/${id}/coupon`, t)).status).toBe(401);
    expect((await withTicket(s, "POST", `/api/events/${id}/enter`, t)).status).toBe(401);
  });

  test("a wait is measured once, from the ticket's join time to the poll that learns of the admission", async () => {
    const id = (await s.api.createEvent({ name: "wait time", stock: 5, trafficRpm: 0, runningCapacity: 5 })).body.id as number;
    const count = async () => (await metricValue(s.url, "coupon_queue_wait_seconds_count", { event_id: id })) ?? 0;
    const t = (await s.api.enter(id, "waited")).body.ticket as string;
    await Bun.sleep(1100);
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, t)).body.status).toBe("waiting");
    await s.queue.tick(id);
    const admitted = await withTicket(s, "GET", `/api/events/${id}/queue`, t);
    expect(admitted.body.status).toBe("admitted");
    expect(await count()).toBe(1);
    expect(await metricValue(s.url, "coupon_queue_wait_seconds_sum", { event_id: id })).toBeGreaterThanOrEqual(1);
    // the reply's ticket no longer counts as waiting: polling on with it measures nothing more
    const next = admitted.body.ticket as string;
    expect(typeof next).toBe("string");
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, next)).body.status).toBe("admitted");
    expect(await count()).toBe(1);
    expect((await withTicket(s, "POST", `/api/events/${id}/issue`, next)).status).toBe(201);
  });

  test("tickets: tampered, forged, expired → 401; another event's → 403; nothing changes", async () => {
    const id = (await s.api.createEvent({ name: "bad tickets", stock: 5, trafficRpm: 0, runningCapacity: 5 })).body.id as number;
    const other = (await s.api.createEvent({ name: "other", stock: 5, trafficRpm: 0, runningCapacity: 5 })).body.id as number;
    const good = (await s.api.enter(id, "owner")).body.ticket as string;
    // verified once and remembered: every forgery below shares its signature with a remembered ticket
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, good)).status).toBe(200);
    const [h, p, sig] = good.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, "base64url").toString());
    const reencode = (c: object) => Buffer.from(JSON.stringify(c)).toString("base64url");
    const hmac = (key: string | Buffer, head: string, body: string) => `${head}.${body}.${createHmac("sha256", key).update(`${head}.${body}`).digest("base64url")}`;
    const expired = new Tickets(JWT_SECRET).sign({ user: "owner", eventId: id, seq: 1, joinedAt: Date.now() - 7200_000, endsAt: Date.now() - 3600_000 }, Date.now() - 7200_000);
    const bad = {
      "another user (sub changed, old signature)": `${h}.${reencode({ ...claims, sub: "thief" })}.${sig}`,
      "another place (seq changed)": `${h}.${reencode({ ...claims, seq: 0 })}.${sig}`,
      "signature flipped": `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith("A") ? "B" : "A"}A`,
      "signed with the user-token secret": hmac(JWT_SECRET, h, p),
      "alg none": `${Buffer.from(JSON.stringify({ alg: "none", typ: "coupon-ticket+jwt" })).toString("base64url")}.${p}.`,
      expired,
      "junk after the ticket": `${good} x`,
    };
    for (const [what, t] of Object.entries(bad))
      for (const [method, path] of [["GET", "queue"], ["DELETE", "queue"], ["POST", "issue"]] as const) {
        const res = await withTicket(s, method, `/api/events/${id}/${path}`, t);
        expect({ what, method, path, status: res.status, error: res.body?.error }).toEqual({ what, method, path, status: 401, error: "unauthorized" });
      }
    for (const [method, path] of [["GET", "queue"], ["DELETE", "queue"], ["POST", "issue"]] as const) {
      const res = await withTicket(s, method, `/api/events/${other}/${path}`, good);
      expect(res.status).toBe(403);
      expect(res.body.error).toBe("wrong_event");
    }
    expect((await s.api.stats(id)).body).toMatchObject({ waiting: 1, issued: 0 });
    expect((await s.api.poll(id, "owner")).body.position).toBe(1);
  });

  test("a poll with the user's token (or an old place's ticket) gets the current ticket", async () => {
    const id = (await s.api.createEvent({ name: "refresh", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    const first = (await s.api.enter(id, "re")).body.ticket as string;
    expect((await s.api.poll(id, "re")).body.ticket).toEqual(expect.any(String));
    await s.api.leave(id, "re");
    await s.api.enter(id, "other");
    const again = await s.api.enter(id, "re");
    expect(again.body.position).toBe(2);
    const p = await withTicket(s, "GET", `/api/events/${id}/queue`, first);
    expect(p.body.position).toBe(2);
    const claims = JSON.parse(Buffer.from((p.body.ticket as string).split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({ sub: "re", ev: id, seq: 3 });
  });

  test("maxWaiting: past it 410 line_full; those in line may enter again; waiting replies carry remaining", async () => {
    const id = (await s.api.createEvent({ name: "full", stock: 7, trafficRpm: 0, runningCapacity: 1, maxWaiting: 3 })).body.id as number;
    // f2 keeps one token, as a page does (the kit mints a new one per call, and a full line answers a token
    // this router never verified with line_full before looking further: docs/security.md)
    const f2 = token("f2");
    const enterF2 = () => s.api.call("POST", `/api/events/${id}/enter`, { token: f2 });
    expect((await s.api.enter(id, "f1")).body).toMatchObject({ status: "waiting", position: 1, remaining: 7 });
    expect((await enterF2()).body).toMatchObject({ status: "waiting", position: 2, remaining: 7 });
    expect((await s.api.enter(id, "f3")).body).toMatchObject({ status: "waiting", position: 3, remaining: 7 });
    const full = await s.api.enter(id, "f4");
    expect(full.status).toBe(410);
    expect(full.body.error).toBe("line_full");
    await waitFor("the view knows the line is full", async () => s.view!.lookup(id)?.waiting === 3, 5000, 20);
    const loads = s.view!.counts.loads;
    for (let i = 0; i < 10; i++) expect((await s.api.enter(id, `f-late-${i}`)).body.error).toBe("line_full");
    expect(s.view!.counts.loads).toBe(loads);
    expect((await enterF2()).body).toMatchObject({ status: "waiting", position: 2 });
    // the same user with a token this router has not verified: the full line is answered first (their place is kept)
    expect((await s.api.call("POST", `/api/events/${id}/enter`, { token: token("f2", 1800) })).body.error).toBe("line_full");
    expect((await enterF2()).body).toMatchObject({ status: "waiting", position: 2 });
    await s.api.leave(id, "f1");
    s.view!.invalidate(id);
    expect((await s.api.enter(id, "f4")).body).toMatchObject({ status: "waiting", position: 3 });
  });

  test("cheap polls keep a waiter's place: liveness flushed in batches, stale heads dropped when they reach the head", async () => {
    const t = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off", QUEUE_WAITER_TIMEOUT_MS: "1000", QUEUE_MAX_POLL_MS: "500", QUEUE_MIN_POLL_MS: "100", ...NO_USER_LIMITS });
    try {
      const id = (await t.api.createEvent({ name: "liveness", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1 })).body.id as number;
      const users = Array.from({ length: 10 }, (_, i) => `live-${i}`);
      const tickets: string[] = [];
      for (const u of users) tickets.push((await t.api.enter(id, u)).body.ticket);
      // users 5..9 poll with their tickets (answered from memory: they are far from the head); 0..4 go quiet
      const loads = t.view!.counts.loads;
      const end = Date.now() + 1600;
      while (Date.now() < end) {
        for (const tk of tickets.slice(5)) expect((await withTicket(t, "GET", `/api/events/${id}/queue`, tk)).body.status).toBe("waiting");
        await Bun.sleep(150);
      }
      await Bun.sleep(400); // one more flush
      expect(t.view!.counts.loads - loads).toBeLessThanOrEqual(2);
      expect(await t.queue.tick(id)).toMatchObject({ stale: 5, admitted: 1 });
      expect((await t.api.poll(id, "live-5")).body.status).toBe("admitted");
      for (const u of users.slice(0, 5)) expect((await t.api.poll(id, u)).body.error).toBe("not_in_queue");
      expect((await t.api.poll(id, "live-6")).body.position).toBe(1);
    } finally {
      await stopServer(t);
    }
  });

  test("a sign of life a few ms newer than the scheduler's clock read counts as alive, one never written as stale", async () => {
    const id = (await s.api.createEvent({ name: "clock", stock: 10, trafficRpm: 0, runningCapacity: 5, startsAt: past(60_000) })).body.id as number;
    expect((await s.api.enter(id, "k1")).status).toBe(202);
    // a tick that read its clock just before the enter ran
    expect(await s.queue.tick(id, Date.now() - 50)).toMatchObject({ admitted: 1, stale: 0 });
    // a place whose liveness word is gone (0 = never seen) is dropped when it reaches the head
    expect((await s.api.enter(id, "k2")).status).toBe(202);
    await r.setrange(eventKeys(s.prefix, id).waitLive, 4 * 2, Buffer.alloc(4));
    expect(await s.queue.tick(id)).toMatchObject({ admitted: 0, stale: 1 });
  });

  test("GET /api/events/:id from the view: contract fields, serverTime now, cacheable for a second", async () => {
    const id = (await s.api.createEvent({ name: "public", stock: 9, trafficRpm: 0, runningCapacity: 1, queueOpensAt: past(1000), startsAt: past(500) })).body.id as number;
    const res = await fetch(`${s.url}/api/events/${id}`);
    expect(res.headers.get("cache-control")).toBe("public, max-age=1");
    const body = (await res.json()) as any;
    expect(Object.keys(body).sort()).toEqual(["botGate", "brand", "claim", "couponValidUntil", "endsAt", "graceSeconds", "id", "message", "name", "paused", "queueOpensAt", "remaining", "serverTime", "slotSeconds", "startsAt", "status", "stock"]);
    expect(body).toMatchObject({ id, name: "public", stock: 9, remaining: 9, status: "open", endsAt: null, claim: "manual", slotSeconds: null, graceSeconds: null, paused: false });
    expect(Math.abs(Date.parse(body.serverTime) - Date.now())).toBeLessThan(5000);
    expect((await fetch(`${s.url}/api/events/2000000001`)).status).toBe(404);
  });

  test("a crowd of cheap polls and enters keeps FIFO and the counts exact", async () => {
    const id = (await s.api.createEvent({ name: "crowd", stock: 50, trafficRpm: 0, runningCapacity: 10, admitPerSecond: 10 })).body.id as number;
    const users = Array.from({ length: 400 }, (_, i) => `cr-${id}-${i}`);
    const entered = await pool(users, 100, (u) => s.api.enter(id, u));
    expect(entered.every((e) => e.status === 202)).toBe(true);
    const bySeq = users.map((u, i) => ({ u, seq: JSON.parse(Buffer.from(entered[i]!.body.ticket.split(".")[1], "base64url").toString()).seq as number }));
    const c = client(s.url);
    const order: string[] = [];
    for (let round = 0; round < 6; round++) {
      await s.queue.tick(id, Date.now() + round * 1000);
      const polls = await pool(bySeq, 100, (x, i) => c.call("GET", `/api/events/${id}/queue`, { token: entered[i]!.body.ticket }));
      polls.forEach((p, i) => p.body.status === "admitted" && !order.includes(bySeq[i]!.u) && order.push(bySeq[i]!.u));
      expect(polls.every((p) => p.status === 200)).toBe(true);
    }
    const admittedSeqs = order.map((u) => bySeq.find((x) => x.u === u)!.seq).sort((a, b) => a - b);
    expect(admittedSeqs).toEqual(Array.from({ length: admittedSeqs.length }, (_, i) => i + 1));
    expect(admittedSeqs.length).toBeGreaterThanOrEqual(10);
  });
});
