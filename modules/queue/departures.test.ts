// The departures list (leave-7.lua) stays bounded under churn, and a ticket of a place given up is
// still never answered from a router's view with the old, better place.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventKeys } from "../../src/redis";
import { startServer, stopServer, type Started } from "../../scripts/testkit";

setDefaultTimeout(120_000);

const MAX = 20;
const FLUSH_MS = 100;
let s: Started;
beforeAll(async () => {
  // nobody is admitted: the line stays as the test builds it
  s = await startServer({ ISSUER: "off", QUEUE_SCHEDULER: "off", QUEUE_DEPARTURES_MAX: String(MAX), RATE_FLUSH_MS: String(FLUSH_MS) });
});
afterAll(() => stopServer(s));

const flushes = (n: number) => Bun.sleep(n * FLUSH_MS + 100);
const newEvent = () => s.api.newEvent({ name: "departures", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1 });
const listed = (id: number) => s.redis.llen(eventKeys(s.prefix, id).departed);
/** `n` users enter and leave again one after the other; the most the list held meanwhile. */
async function churn(id: number, tag: string, n: number) {
  let most = 0;
  for (let i = 0; i < n; i++) {
    const u = `${tag}-${id}-${i}`;
    expect((await s.api.enter(id, u)).status).toBe(202);
    expect((await s.api.leave(id, u)).status).toBe(204);
    most = Math.max(most, await listed(id));
  }
  return most;
}

describe("departures", () => {
  test("the list stays bounded under churn: what the head passed goes, and at most QUEUE_DEPARTURES_MAX ahead of it", async () => {
    const id = await newEvent();
    // five stay at the front: every leaver is ahead of the head, nothing is passed
    for (let i = 0; i < 5; i++) expect((await s.api.enter(id, `front-${id}-${i}`)).status).toBe(202);
    expect(await churn(id, "churn", 10 * MAX)).toBe(MAX);
    // the front leaves too: the line is empty, so every departure is behind whoever enters next
    for (let i = 0; i < 5; i++) expect((await s.api.leave(id, `front-${id}-${i}`)).status).toBe(204);
    expect(await listed(id)).toBe(0);
    // alone in line, each leaver's own departure is passed at once
    expect(await churn(id, "alone", 50)).toBe(0);
  });

  test("an event that ends empties its departures with its line", async () => {
    const id = await newEvent();
    const k = eventKeys(s.prefix, id);
    for (let i = 0; i < 3; i++) expect((await s.api.enter(id, `stay-${id}-${i}`)).status).toBe(202);
    await churn(id, "gone", 3 * MAX);
    expect(await s.redis.exists(k.departed, k.departedTrim)).toBe(2);
    expect((await s.api.call("POST", `/admin/events/${id}/close`, { token: "test-admin-token" })).status).toBe(200);
    await s.queue.tick(id);
    expect(await s.redis.exists(k.waiting, k.departed, k.departedTrim)).toBe(0);
  });

  test("a stale ticket whose departure was dropped from the list is still answered by the exact poll, never from the view", async () => {
    const id = await newEvent();
    for (let i = 0; i < 10; i++) expect((await s.api.enter(id, `wait-${id}-${i}`)).status).toBe(202);
    const attacker = `attacker-${id}`;
    const first = await s.api.enter(id, attacker);
    expect([first.status, first.body.position]).toEqual([202, 11]);
    const oldTicket = first.body.ticket as string;
    const poll = () => s.api.call("GET", `/api/events/${id}/queue`, { token: oldTicket });
    await flushes(2);
    expect((await poll()).body.position).toBe(11);

    expect((await s.api.leave(id, attacker)).status).toBe(204);
    for (let i = 10; i < 15; i++) expect((await s.api.enter(id, `wait-${id}-${i}`)).status).toBe(202);
    expect((await s.api.enter(id, attacker)).body.position).toBe(16);
    // enough leavers after it to push the attacker's departure out of the list
    await churn(id, "push", 3 * MAX);
    // arrival sequences count from 1 per event: the attacker's first place was the 11th
    expect(await s.redis.lrange(eventKeys(s.prefix, id).departed, 0, -1)).not.toContain("11");
    await flushes(3);
    // the exact poll: the true place (16: the churners are gone), with a ticket for it
    const stale = await poll();
    expect(stale.status).toBe(200);
    expect(stale.body).toMatchObject({ status: "waiting", position: 16 });
  });
});
