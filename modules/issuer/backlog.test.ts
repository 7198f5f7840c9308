// The bound on promises waiting for MySQL (ISSUE_BACKLOG_MAX_AGE_MS, issue #19 finding 1): while the
// oldest promise not yet stored is older than the bound, issue answers 503 with Retry-After and
// nothing is sold; once an issuer has stored the backlog, it sells again.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mysqlConn, NO_USER_LIMITS, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";

setDefaultTimeout(60_000);

const db = mysqlConn();
const servers: Started[] = [];
afterAll(async () => {
  for (const s of servers) await stopServer(s).catch(() => {});
  await db.end();
});

describe("the unpersisted backlog bound", () => {
  test("no issuer for longer than the bound: issue 503 + Retry-After, nothing sold; an issuer drains it and sales resume", async () => {
    const s = await startServer({ ISSUER: "off", ISSUE_BACKLOG_MAX_AGE_MS: "1500", ...NO_USER_LIMITS });
    servers.push(s);
    const id = (await s.api.createEvent({ name: "backlog", stock: 10, trafficRpm: 1_000_000_000, runningCapacity: 100 })).body.id as number;
    const take = async (u: string) => {
      await s.api.enter(id, u);
      return s.api.issue(id, u);
    };
    expect((await take("first")).status).toBe(201);
    await Bun.sleep(2200);
    await s.api.enter(id, "second");
    const refused = await fetch(`${s.url}/api/events/${id}/issue`, { method: "POST", headers: { authorization: `Bearer ${await token("second")}` } });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toBe("unavailable");
    expect(refused.headers.get("retry-after")).toBe("5");
    expect((await s.api.stats(id)).body.remaining).toBe(9);
    // an issuer comes (a second process on the same Redis and MySQL) and stores the backlog
    const issuer = await startServer({ REDIS_KEY_PREFIX: s.prefix, ROLE: "issuer" });
    servers.push(issuer);
    await waitFor("the backlog stored", async () => ((await db.query("SELECT COUNT(*) AS n FROM coupon_issues WHERE event_id = ?", [id])) as any)[0][0].n === 1);
    await waitFor("sells again", async () => (await take("second")).status === 201, 10_000, 200);
  });
});
