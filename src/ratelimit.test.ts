import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startServer, stopServer, token, type Started } from "../scripts/testkit";
import { retryAfterSeconds } from "./ratelimit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

let s: Started, strict: Started;
beforeAll(async () => {
  s = await startServer({ RATE_LIMIT_USER_PER_SEC: "1", RATE_LIMIT_USER_BURST: "10" });
  strict = await startServer({ RATE_LIMIT_IP_PER_SEC: "2", RATE_LIMIT_IP_BURST: "20", RATE_LIMIT_LOOPBACK: "on", RATE_LIMIT_USER_PER_SEC: "0" });
});
afterAll(async () => {
  await stopServer(s);
  await stopServer(strict);
});

describe("abuse limits", () => {
  test("Retry-After is whole seconds, rounded up, at least 1", () => {
    expect([0.02, 0.5, 1, 1.001, 2.4, 30].map(retryAfterSeconds)).toEqual([1, 1, 1, 2, 3, 30]);
  });

  test("one user hammering gets 429 with retryAfter; other users are not affected", async () => {
    const id = (await s.api.createEvent({ name: "abuse", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id;
    const replies = await Promise.all(Array.from({ length: 40 }, () => s.api.enter(id, "hammer")));
    const limited = replies.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(limited[0]!.body).toMatchObject({ error: "rate_limited" });
    // body and header agree: the same whole number of seconds (1 token a second: never more than 1)
    for (const r of limited) expect(r.body.retryAfter).toBe(1);
    const res = await fetch(`${s.url}/api/events/${id}/enter`, { method: "POST", headers: { authorization: `Bearer ${token("hammer")}` } });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe(String((await res.json()).retryAfter));
    // still one place in line, however many times they asked
    expect((await s.api.stats(id)).body.waiting).toBe(1);
    const other = await s.api.enter(id, "polite");
    expect(other.status).toBe(202);
    expect(other.body.position).toBe(2);
    // the limit is per user across enter, poll and issue
    expect((await s.api.poll(id, "hammer")).status).toBe(429);
    await Bun.sleep(limited[0]!.body.retryAfter * 1000 + 50);
    expect((await s.api.poll(id, "hammer")).status).toBe(200);
  });

  test("per-IP limit caps a client that rotates user ids", async () => {
    const id = (await strict.api.createEvent({ name: "ip", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id;
    const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => strict.api.enter(id, `rot${i}`)));
    const limited = replies.filter((r) => r.status === 429).length;
    expect(limited).toBeGreaterThanOrEqual(30);
    expect(replies.every((r) => r.status === 202 || r.status === 429)).toBe(true);
    // limited requests changed nothing: only the accepted ones hold places (in line, or admitted by the scheduler)
    const st = (await strict.api.stats(id)).body;
    expect(st.waiting + st.running).toBe(60 - limited);
  });
});
