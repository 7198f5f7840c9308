// What a waiter is told, and how long the place is kept: an honest ETA, the grace of the default
// QUEUE_WAITER_TIMEOUT_MS, and a shop token that expires while the user waits.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const withTicket = (s: Started, method: string, path: string, ticket: string) => s.api.call(method, path, { token: ticket });

describe("waiters (scheduler off: the test ticks, with the scheduler's clock where it says so)", () => {
  let s: Started;
  beforeAll(async () => {
    // the configured defaults: QUEUE_WAITER_TIMEOUT_MS 120 s, QUEUE_SLOT_TTL_MS 120 s
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off" });
  });
  afterAll(() => stopServer(s));

  test("etaSeconds is null while a held slot blocks the line, a number while the line moves", async () => {
    const id = (await s.api.createEvent({ name: "held slot", stock: 10, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 5 })).body.id as number;
    for (const u of ["holder", "next", "third"]) expect((await s.api.enter(id, u)).status).toBe(202);
    const now = Date.now();
    expect((await s.queue.tick(id, now)).admitted).toBe(1); // holder takes the only slot, and keeps it
    // (the slot holders in a reply come from the router's view: within a flush)
    await waitFor("the view to see the slot held", async () => (await s.api.poll(id, "next")).body.running === 1, 5000, 50);
    const moving = await s.api.poll(id, "next");
    expect(moving.body).toMatchObject({ status: "waiting", position: 1, running: 1 });
    expect(moving.body.etaSeconds).toBeGreaterThan(0);

    // the scheduler ticks on (its clock 11 s later): nobody was admitted for 10 s, the slot is held
    expect(await s.queue.tick(id, now + 11_000)).toMatchObject({ admitted: 0, expired: 0 });
    const stuck = await s.api.poll(id, "next");
    expect(stuck.body).toMatchObject({ status: "waiting", position: 1, running: 1, etaSeconds: null });
    expect((await s.api.poll(id, "third")).body).toMatchObject({ position: 2, etaSeconds: null });
    expect((await s.api.stats(id)).body).toMatchObject({ admitRate: 0, stall: "capacity_full" });

    // the holder takes the coupon: the slot goes to the next in line, and the line has a rate again
    expect((await s.api.issue(id, "holder")).status).toBe(201);
    expect((await s.api.poll(id, "next")).body.status).toBe("admitted");
    await s.queue.tick(id);
    const third = await s.api.poll(id, "third");
    expect(third.body).toMatchObject({ status: "waiting", position: 1 });
    expect(third.body.etaSeconds).toBeGreaterThan(0);
  });

  test("a waiter silent for longer than 30 s but less than the 120 s grace keeps the place; past the grace it is dropped when the line reaches it", async () => {
    const id = (await s.api.createEvent({ name: "grace", stock: 10, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 5 })).body.id as number;
    const e = await s.api.enter(id, "quiet");
    expect(e.body).toMatchObject({ status: "waiting", position: 1, graceSeconds: 120 });
    const t0 = Date.now(); // quiet's last sign of life
    // the scheduler's clock 31 s later: quiet is at the head and still holds the place
    expect(await s.queue.tick(id, t0 + 31_000)).toMatchObject({ admitted: 1, stale: 0 });
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, e.body.ticket)).body.status).toBe("admitted");

    // another, silent for longer than the grace when the line reaches them: dropped, and told so
    const gone = await s.api.enter(id, "gone");
    expect(gone.status).toBe(202);
    expect((await s.api.leave(id, "quiet")).status).toBe(204); // frees the slot
    expect(await s.queue.tick(id, Date.now() + 121_000)).toMatchObject({ admitted: 0, stale: 1 });
    const lost = await withTicket(s, "GET", `/api/events/${id}/queue`, gone.body.ticket);
    expect(lost).toMatchObject({ status: 404, body: { error: "not_in_queue" } });
  });
});

describe("a shop token that expires while the user waits", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off" });
  });
  afterAll(() => stopServer(s));

  test("the ticket keeps the place, learns of the admission and takes the coupon after the JWT expired", async () => {
    const id = (await s.api.createEvent({ name: "short token", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    expect((await s.api.enter(id, "first")).status).toBe(202);
    await s.queue.tick(id); // first holds the only slot
    const jwt = token("shopper", 2);
    const e = await s.api.call("POST", `/api/events/${id}/enter`, { token: jwt });
    expect(e.body).toMatchObject({ status: "waiting", position: 1 });
    const ticket = e.body.ticket as string;

    // the shop's token lapses (2 s, plus the clock skew the server forgives)
    await waitFor("the JWT to expire", async () => (await s.api.call("GET", `/api/events/${id}/queue`, { token: jwt })).status === 401, 15_000, 250);
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, ticket)).body).toMatchObject({ status: "waiting", position: 1 });

    // the slot frees up: the ticket learns of the admission and takes the coupon
    expect((await s.api.issue(id, "first")).status).toBe(201);
    expect((await withTicket(s, "GET", `/api/events/${id}/queue`, ticket)).body.status).toBe("admitted");
    expect((await s.api.call("POST", `/api/events/${id}/issue`, { token: jwt })).status).toBe(401);
    const issued = await withTicket(s, "POST", `/api/events/${id}/issue`, ticket);
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({ status: "issued", eventId: id, userId: "shopper" });
    expect((await s.api.coupon(id, "shopper")).body).toMatchObject({ issued: true, code: issued.body.code });
  });
});
