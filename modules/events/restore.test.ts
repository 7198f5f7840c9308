import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, pool, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";

// real servers: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

let s: Started;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await stopServer(s);
});

describe("rebuilding an event's Redis state from MySQL", () => {
  test("a Redis that lost part or all of an event can never sell stock that is gone", async () => {
    const id = (await s.api.createEvent({ name: "restore", stock: 50, trafficRpm: 1_000_000_000, runningCapacity: 1000 })).body.id as number;
    const early = Array.from({ length: 20 }, (_, i) => `early-${id}-${i}`);
    await pool(early, 20, async (u) => (await s.api.enter(id, u), s.api.issue(id, u)));
    await waitFor("persisted", async () => (await s.api.stats(id)).body.persisted === 20);
    const k = eventKeys(s.prefix, id);

    // part lost: the issued users are gone and remaining reads as the full stock
    await s.redis.del(k.issued);
    await s.redis.hset(k.meta, "remaining", "50");
    const repaired = await s.api.call("POST", `/admin/events/${id}/restore`, { token: ADMIN_TOKEN });
    expect(repaired.status).toBe(200);
    expect(repaired.body).toMatchObject({ remaining: 30, issued: 20, persisted: 20 });
    expect((await s.api.enter(id, early[0]!)).body.error).toBe("already_issued");

    // repair never raises stock: a remaining below the bound stays
    await s.redis.hset(k.meta, "remaining", "10");
    expect((await s.api.call("POST", `/admin/events/${id}/restore`, { token: ADMIN_TOKEN })).body.remaining).toBe(10);
    await s.redis.hset(k.meta, "remaining", "30");

    // all lost: the next request rebuilds it
    await s.redis.del(k.meta, k.issued, k.stream, k.running, k.waiting);
    expect((await s.api.call("GET", `/api/events/${id}`)).body).toMatchObject({ remaining: 30, status: "open" });
    const late = Array.from({ length: 60 }, (_, i) => `late-${id}-${i}`);
    const replies = await pool([...early, ...late], 40, async (u) => {
      const e = await s.api.enter(id, u);
      return e.status === 200 ? (await s.api.issue(id, u)).status : e.status;
    });
    expect(replies.filter((r) => r === 201).length).toBe(30);
    await waitFor("sold out and persisted", async () => (await s.api.stats(id)).body.persisted === 50);
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 0, issued: 50, persisted: 50, pending: 0 });
  });

  // the stats named nothing, and no call put such units back (restore never raises remaining)
  test("units gone with no user anywhere: named in the stats, refused, kept by restore, sold again only after release-unaccounted", async () => {
    const id = (await s.api.createEvent({ name: "unaccounted", stock: 10, trafficRpm: 1_000_000_000, runningCapacity: 1000 })).body.id as number;
    const first = Array.from({ length: 3 }, (_, i) => `ua-${id}-${i}`);
    for (const u of first) expect((await s.api.enter(id, u), await s.api.issue(id, u)).status).toBe(201);
    await waitFor("persisted", async () => (await s.api.stats(id)).body.persisted === 3);
    expect((await s.api.stats(id)).body.unaccounted).toBe(0);
    // two more units gone than anyone holds: no user in Redis, MySQL or the stream for them
    await s.redis.hset(eventKeys(s.prefix, id).meta, "remaining", "5");
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 5, issued: 5, persisted: 3, unaccounted: 2 });
    const late = `ua-${id}-late`;
    await s.api.enter(id, late);
    expect((await s.api.issue(id, late)).status).toBe(503);

    const restored = await s.api.call("POST", `/admin/events/${id}/restore`, { token: ADMIN_TOKEN });
    expect(restored.body).toMatchObject({ remaining: 5, unaccounted: 2 });
    expect((await s.api.issue(id, late)).status).toBe(503);

    const released = await s.api.call("POST", `/admin/events/${id}/release-unaccounted`, { token: ADMIN_TOKEN });
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ remaining: 7, issued: 3, unaccounted: 0 });
    const [entry] = (await s.api.call("GET", `/admin/audit?eventId=${id}`, { token: ADMIN_TOKEN })).body.entries;
    expect(entry).toMatchObject({ action: "release_unaccounted", before: { remaining: 5, unaccounted: 2 }, after: { remaining: 7, unaccounted: 0 } });
    // after the reconciliation's fence
    await waitFor("sold again", async () => (await s.api.issue(id, late)).status === 201);
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 6, issued: 4, unaccounted: 0 });
    expect((await s.api.call("POST", "/admin/events/999999999/release-unaccounted", { token: ADMIN_TOKEN })).status).toBe(404);
  });
});
