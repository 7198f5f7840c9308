// Webhooks against a real receiver (Bun.serve on loopback) that fails, goes away and comes back:
// every winner delivered at least once, every signature valid, and issuance and persistence never
// wait for the receiver. These tests use a MySQL schema of their own: once an event has a
// webhookUrl, an issuer without WEBHOOK_SECRET refuses to start on that database (tested here too).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connectMysql, migrateDatabase } from "../../src/db";
import { loadConfig } from "../../src/config";
import { ADMIN_TOKEN, JWT_SECRET, metricValue, NO_USER_LIMITS, pool, readMetrics, spawnServer, startServer, stopServer, valueOf, waitFor, type Started } from "../../scripts/testkit";
import { receiver, webhookTestFile, type Received } from "./receiver";
import { retryDelay, signer, WebhookDispatcher } from "./service";

setDefaultTimeout(120_000);

const SECRET = "webhook-test-secret-0123456789";
const { db: HOOK_DB, tls, env: HOOK_ENV } = webhookTestFile("hooks", SECRET);
const valid = (r: Received) => r.verified;

describe("retry policy", () => {
  test("backoff doubles from the base up to the cap, with jitter between half and all of it", () => {
    for (const [attempts, ceiling] of [[1, 1000], [2, 2000], [3, 4000], [10, 512_000], [11, 600_000], [60, 600_000]] as const) {
      expect(retryDelay(attempts, 1000, 600_000, () => 0)).toBe(ceiling / 2);
      expect(retryDelay(attempts, 1000, 600_000, () => 1)).toBe(ceiling);
      const d = retryDelay(attempts, 1000, 600_000);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });

  test("a raw secret signs as its UTF-8 bytes, the same as whsec_ + their base64", () => {
    const raw = "k".repeat(16);
    const at = new Date();
    expect(signer(raw).sign("msg_1", at, '{"a":1}')).toBe(signer(`whsec_${Buffer.from(raw).toString("base64")}`).sign("msg_1", at, '{"a":1}'));
    expect(signer(raw).sign("msg_1", at, '{"a":1}')).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });
});

describe("delivery through a failing, then hanging, then dead, then revived receiver", () => {
  let s: Started;
  const hook = receiver(tls, SECRET, 3);
  beforeAll(async () => {
    s = await startServer({
      ...HOOK_ENV,
      ...NO_USER_LIMITS,
      // fast retries so the test sees several of them; small batches so there are many deliveries
      WEBHOOK_RETRY_BASE_MS: "50",
      WEBHOOK_RETRY_MAX_MS: "400",
      WEBHOOK_TIMEOUT_MS: "2000",
      ISSUER_BATCH_SIZE: "40",
    });
  });
  afterAll(async () => {
    hook.stop();
    await stopServer(s);
  });

  test("every winner is delivered at least once, signed; persistence never waits for a failing, hanging or dead receiver", async () => {
    const ev = await s.api.createEvent({ name: "hooked", stock: 400, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000, webhookUrl: hook.url });
    expect(ev.status).toBe(201);
    expect(ev.body.webhookUrl).toBe(hook.url);
    const id = ev.body.id as number;
    const codes = new Map<string, string>();
    const rush = async (users: string[]) =>
      pool(users, 50, async (u) => {
        expect((await s.api.enter(id, u)).status).toBe(200);
        const r = await s.api.issue(id, u);
        expect(r.status).toBe(201);
        codes.set(u, r.body.code);
      });
    const stats = async () => (await s.api.stats(id)).body;

    // 1. the receiver refuses its first three deliveries; retries get them through
    await rush(Array.from({ length: 150 }, (_, i) => `hook-a-${id}-${i}`));
    await waitFor("the first wave delivered", async () => {
      const st = await stats();
      return st.persisted === 150 && st.webhooksPending === 0 && st.webhooksDelivered > 0;
    });
    const first = await stats();
    expect(hook.refused()).toBe(3);
    expect(first.webhookFailedAttempts).toBeGreaterThanOrEqual(3);

    // 2. the receiver takes requests and never answers: issuance and persistence go on regardless
    hook.hang(true);
    await rush(Array.from({ length: 250 }, (_, i) => `hook-b-${id}-${i}`));
    await waitFor("every issuance persisted while the receiver hangs", async () => {
      const st = await stats();
      return st.issued === 400 && st.persisted === 400 && st.pending === 0;
    });
    await waitFor("deliveries stuck in a hanging receiver", async () => hook.hung() > 0);
    expect((await stats()).webhooksPending).toBeGreaterThan(0);

    // 3. the receiver is gone altogether: deliveries fail and wait, through several rounds of retries
    hook.down();
    hook.hang(false);
    const whileDown = await stats();
    expect(whileDown.webhooksPending).toBeGreaterThan(0);
    await waitFor("retries failing", async () => (await stats()).webhookFailedAttempts >= first.webhookFailedAttempts + 2 * whileDown.webhooksPending);
    const received = hook.received.length;
    const gauge = () => metricValue(s.url, "coupon_webhook_outbox_pending");
    await waitFor("the outbox gauge shows what is owed", async () => ((await gauge()) ?? 0) > 0);

    // 4. back up: everything owed arrives
    hook.up();
    await waitFor("every delivery accepted", async () => (await stats()).webhooksPending === 0);
    const done = await stats();
    console.log(
      `webhooks: ${done.webhooksDelivered} deliveries, ${done.webhookFailedAttempts} failed attempts, ${hook.hung()} requests left hanging, ${hook.received.length} accepted (${received} before the outage ended)`,
    );

    // every winner arrived, with the code of its 201, in a body signed with the secret
    const seen = new Map<string, string>();
    for (const r of hook.received) {
      expect(valid(r)).toBe(true);
      expect(r.id).toMatch(/^msg_[1-9][0-9]*$/);
      const body = JSON.parse(r.raw) as { type: string; timestamp: string; data: { eventId: number; issues: { userId: string; code: string; issuedAt: string }[] } };
      if (body.type !== "coupon.issued") continue;
      expect(body.data.eventId).toBe(id);
      for (const i of body.data.issues) {
        expect(Number.isNaN(Date.parse(i.issuedAt))).toBe(false);
        seen.set(i.userId, i.code);
      }
    }
    expect(seen.size).toBe(400);
    for (const [u, code] of codes) expect(seen.get(u)).toBe(code);
    // one delivery per persisted batch, each accepted once here (nothing was redelivered after a 2xx)
    expect(new Set(hook.received.map((r) => r.id)).size).toBe(hook.received.length);
    expect(hook.received.length).toBe(done.webhooksDelivered);

    const metrics = await readMetrics(s.url);
    expect(valueOf(metrics, "coupon_webhook_deliveries_total", { outcome: "delivered" })).toBe(done.webhooksDelivered);
    expect(valueOf(metrics, "coupon_webhook_deliveries_total", { outcome: "failed" })).toBeGreaterThanOrEqual(1);
    await waitFor("the outbox gauge back at 0", async () => (await gauge()) === 0);
  });
});

describe("several dispatchers on one outbox", () => {
  test("three processes' dispatchers share 300 due deliveries: each is posted exactly once", async () => {
    await migrateDatabase(HOOK_DB);
    const hook = receiver(tls, SECRET);
    const db = connectMysql(HOOK_DB);
    const cfg = { ...loadConfig({ NODE_ENV: "test", ADMIN_TOKEN, AUTH_JWT_SECRET: JWT_SECRET, WEBHOOK_ALLOW_PRIVATE: "on", WEBHOOK_CA_FILE: tls.caFile }).webhooks, pollMs: 20, concurrency: 4 };
    const dispatchers = Array.from({ length: 3 }, () => new WebhookDispatcher(connectMysql(HOOK_DB), SECRET, cfg));
    try {
      const now = new Date();
      const [ins] = (await db.pool.query(
        "INSERT INTO coupon_events (name, stock, traffic_rpm, running_capacity, admit_per_second, starts_at, webhook_url, created_at) VALUES ('outbox only', 1, 0, 1, 1, ?, ?, ?)",
        [now, hook.url, now],
      )) as [{ insertId: number }, unknown];
      const eventId = ins.insertId;
      const rows = Array.from({ length: 300 }, (_, i) => [eventId, JSON.stringify({ eventId, issues: [{ userId: `u${i}`, code: `C${i}`, issuedAt: now.toISOString() }] }), now, now]);
      await db.pool.query("INSERT INTO webhook_outbox (event_id, body, next_attempt_at, created_at) VALUES ?", [rows]);

      dispatchers.forEach((d) => d.start());
      await waitFor("all delivered", async () => {
        const [[r]] = (await db.pool.query("SELECT COUNT(*) AS n FROM webhook_outbox WHERE event_id = ? AND delivered_at IS NULL", [eventId])) as [{ n: number }[], unknown];
        return Number(r!.n) === 0;
      });
      const ids = hook.received.map((r) => r.id);
      console.log(`dispatchers delivered ${dispatchers.map((d) => d.stats.delivered).join(" + ")} = ${ids.length}`);
      expect(ids.length).toBe(300);
      expect(new Set(ids).size).toBe(300);
      expect(hook.received.every(valid)).toBe(true);
      // and each body went out exactly as stored
      const [stored] = (await db.pool.query("SELECT id, body FROM webhook_outbox WHERE event_id = ?", [eventId])) as [{ id: number; body: string }[], unknown];
      const byId = new Map(hook.received.map((r) => [r.id, r.raw]));
      for (const row of stored) expect(byId.get(`msg_${row.id}`)).toBe(row.body);
      await db.pool.query("UPDATE coupon_events SET webhook_url = NULL WHERE id = ?", [eventId]);
    } finally {
      await Promise.all(dispatchers.map(async (d) => (await d.stop(), d)));
      hook.stop();
      await db.close();
    }
  });
});

describe("start-up", () => {
  test("an issuer without WEBHOOK_SECRET refuses to start while any event has a webhookUrl, with one clear line", async () => {
    await migrateDatabase(HOOK_DB);
    const db = connectMysql(HOOK_DB);
    try {
      const now = new Date();
      await db.pool.query(
        "INSERT INTO coupon_events (name, stock, traffic_rpm, running_capacity, admit_per_second, starts_at, webhook_url, created_at) VALUES ('needs a secret', 1, 0, 1, 1, ?, 'http://127.0.0.1:9/x', ?)",
        [now, now],
      );
      let out = "";
      try {
        const p = await spawnServer({ ROLE: "issuer", DATABASE_URL: HOOK_DB, REDIS_KEY_PREFIX: `hookstart${Date.now()}` });
        await p.kill();
      } catch (e) {
        out = (e as Error).message;
      }
      expect(out).toContain("exit 1");
      const lines = out.split("\n").filter((l) => l.trim() && !l.startsWith("server did not start"));
      expect(lines).toEqual([expect.stringMatching(/^start failed: WEBHOOK_SECRET required when any event has a webhookUrl \(events [\d, …]+\)$/)]);
      // with the secret it starts
      const ok = await spawnServer({ ROLE: "issuer", DATABASE_URL: HOOK_DB, WEBHOOK_SECRET: SECRET, REDIS_KEY_PREFIX: `hookstart${Date.now()}` });
      expect(await ok.kill()).toBe(0);
    } finally {
      await db.close();
    }
  });
});
