// A router that cannot tell whether an issue went through says so: 504 outcome_unknown, never a
// plain "try again" — and the coupon endpoint then tells the truth. Only a request that never left
// the router (nothing listening) is a 503 to retry.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { client, dropKeys, mysqlConn, spawnServer, TEST_REDIS, token, waitFor, type Proc } from "../../scripts/testkit";

setDefaultTimeout(120_000);

const prefix = `outcome${Date.now().toString(36)}`;
const env = { REDIS_KEY_PREFIX: prefix, ISSUER_CLAIM_IDLE_MS: "3000" };
const db = mysqlConn();
let queue: Proc, coupon: Proc, issuer: Proc, router: Proc;

beforeAll(async () => {
  [queue, coupon, issuer] = await Promise.all([spawnServer({ ...env, ROLE: "queue" }), spawnServer({ ...env, ROLE: "coupon" }), spawnServer({ ...env, ROLE: "issuer" })]);
  router = await spawnServer({ ...env, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: coupon.url, UPSTREAM_TIMEOUT_MS: "300" });
});

afterAll(async () => {
  coupon.proc.kill("SIGCONT");
  await Promise.all([queue, coupon, issuer, router].map((p) => p?.kill("SIGKILL")));
  await dropKeys(TEST_REDIS, prefix);
  await db.end();
});

describe("an issue whose outcome the router cannot know", () => {
  test("the coupon process stalls during an issue: 504 outcome_unknown, and GET …/coupon shows it was issued", async () => {
    const api = client(router.url);
    const id = (await api.createEvent({ name: "stalled", stock: 5, trafficRpm: 1_000_000, runningCapacity: 100 })).body.id as number;
    expect((await api.enter(id, "stalled-user")).status).toBe(200);
    coupon.proc.kill("SIGSTOP");
    try {
      const r = await api.issue(id, "stalled-user");
      expect(r.status).toBe(504);
      expect(r.body.error).toBe("outcome_unknown");
    } finally {
      coupon.proc.kill("SIGCONT");
    }
    // the request did reach the coupon process: it went through, and the truth is one GET away
    await waitFor("persisted", async () => (await api.coupon(id, "stalled-user")).body?.persisted === true);
    const c = (await api.coupon(id, "stalled-user")).body;
    expect(c).toMatchObject({ issued: true, persisted: true });
    const [[row]] = (await db.query("SELECT code FROM coupon_issues WHERE event_id = ? AND user_id = ?", [id, "stalled-user"])) as any;
    expect(row.code).toBe(c.code);
    // asking again is safe: the coupon is the user's, once
    expect((await api.issue(id, "stalled-user")).body.error).toBe("already_issued");
  });

  test("a long answer (the winners CSV) streams through the router whatever its length, with its headers", async () => {
    const api = client(router.url);
    const id = (await api.createEvent({ name: "export through the router", stock: 30, trafficRpm: 1_000_000, runningCapacity: 100 })).body.id as number;
    for (let i = 0; i < 30; i++) {
      await api.enter(id, `csv-${i}`);
      const r = await api.issue(id, `csv-${i}`);
      // a loaded machine can outlast this router's 300 ms upstream timeout: the outcome is then one GET away
      if (r.status === 504) await waitFor("issued", async () => (await api.coupon(id, `csv-${i}`)).body?.issued === true);
      else expect(r.status).toBe(201);
    }
    await waitFor("persisted", async () => (await api.stats(id)).body.persisted === 30);
    const res = await fetch(`${router.url}/admin/events/${id}/issues`, { headers: { authorization: "Bearer test-admin-token", accept: "text/csv" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/csv");
    expect(res.headers.get("content-disposition")).toContain("attachment");
    const lines = (await res.text()).trim().split("\n");
    expect(lines.length).toBe(31);
  });

  test("a POST to an upstream that accepts but never answers is 504; a GET is 503; nothing listening is 503", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const r2 = await spawnServer({ ...env, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: `http://127.0.0.1:${silent.port}`, UPSTREAM_TIMEOUT_MS: "300" });
    try {
      const api = client(r2.url);
      expect((await api.issue(1, "u")).body.error).toBe("outcome_unknown");
      // (GET /api/events/:id is the router's own, from its view of the event: this GET goes upstream)
      expect((await api.call("GET", "/api/events/1/coupon", { token: token("u") })).body.error).toBe("upstream_unavailable");
    } finally {
      await r2.kill("SIGKILL");
      silent.stop(true);
    }
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const r3 = await spawnServer({ ...env, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: `http://127.0.0.1:${port}`, UPSTREAM_TIMEOUT_MS: "300" });
    try {
      const r = await client(r3.url).issue(1, "u");
      expect(r.status).toBe(503);
      expect(r.body.error).toBe("upstream_unavailable");
    } finally {
      await r3.kill("SIGKILL");
    }
  });
});
