// The SSRF guard: every spelling of a loopback, private, link-local, CGNAT, multicast, unspecified or
// metadata address refused when the URL is set (400 webhook_url_forbidden, nothing stored), and a name
// that resolves to loopback at delivery time refused then, with the resolved address pinned for the
// connection. These tests use a MySQL schema of their own (a stored webhookUrl makes an issuer
// without WEBHOOK_SECRET refuse to start on that database).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { loadConfig } from "../../src/config";
import { connectMysql, migrateDatabase } from "../../src/db";
import { ADMIN_TOKEN, JWT_SECRET, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";
import { checkTarget, forbiddenAddress, resolveTarget } from "./guard";
import { receiver, webhookTestFile } from "./receiver";
import { WebhookDispatcher } from "./service";

setDefaultTimeout(120_000);

const SECRET = "ssrf-test-secret-0123456789";
const { db: DB, tls } = webhookTestFile("ssrf", SECRET);

// every form the issue names, and the ranges the contract lists
const FORBIDDEN_URLS = [
  "https://127.0.0.1/hook",
  "https://127.1/hook",
  "https://2130706433/hook",
  "https://0x7f.1/hook",
  "https://0x7f000001/hook",
  "https://0177.0.0.1/hook",
  "https://[::1]/hook",
  "https://[::ffff:127.0.0.1]/hook",
  "https://[0:0:0:0:0:ffff:7f00:1]/hook",
  "https://[::ffff:169.254.169.254]/latest/meta-data",
  "https://169.254.169.254/latest/meta-data",
  "https://[fd00:ec2::254]/latest/meta-data",
  "https://100.100.100.200/latest/meta-data",
  "https://10.0.0.5/hook",
  "https://172.16.3.4/hook",
  "https://192.168.1.1/hook",
  "https://100.64.0.1/hook",
  "https://[fe80::1]/hook",
  "https://[fc00::1]/hook",
  "https://224.0.0.1/hook",
  "https://[ff02::1]/hook",
  "https://0.0.0.0/hook",
  "https://0/hook",
  "https://[::]/hook",
  "https://255.255.255.255/hook",
  "https://[64:ff9b::7f00:1]/hook",
  "https://[2002:7f00:1::]/hook",
  "https://localhost/hook",
  "https://LOCALHOST./hook",
  "https://api.localhost/hook",
  "https://metadata.google.internal/computeMetadata/v1/",
  "https://intranet/hook",
  // not https at all
  "http://93.184.215.14/hook",
  "ftp://93.184.215.14/hook",
];

describe("the guard", () => {
  test("public unicast addresses pass; every other range is named", () => {
    expect(forbiddenAddress("93.184.215.14")).toBeNull();
    expect(forbiddenAddress("2606:4700::1111")).toBeNull();
    expect(forbiddenAddress("[2606:4700::1111]")).toBeNull();
    expect(forbiddenAddress("127.0.0.1")).toContain("loopback");
    expect(forbiddenAddress("::ffff:127.0.0.1")).toContain("127.0.0.1 is loopback");
    expect(forbiddenAddress("169.254.169.254")).toContain("linkLocal");
    expect(forbiddenAddress("100.64.1.1")).toContain("CGNAT");
    expect(forbiddenAddress("not an address")).toContain("not an IP");
  });

  test("every forbidden form is refused at set time; a name resolving to loopback too; public targets pass", async () => {
    const none = async () => [] as string[];
    for (const url of FORBIDDEN_URLS) expect({ url, refused: await checkTarget(url, false, none).then(() => false, () => true) }).toEqual({ url, refused: true });
    const toLoopback = async () => ["93.184.215.14", "127.0.0.1"];
    await expect(checkTarget("https://rebind.example/hook", false, toLoopback)).rejects.toThrow(/resolves to a forbidden address: 127\.0\.0\.1 is loopback/);
    expect((await checkTarget("https://shop.example/hook", false, async () => ["93.184.215.14"])).hostname).toBe("shop.example");
    // a name that does not resolve now is accepted: every delivery checks again
    expect((await checkTarget("https://not-yet.example/hook", false, async () => Promise.reject(new Error("ENOTFOUND")))).hostname).toBe("not-yet.example");
    // WEBHOOK_ALLOW_PRIVATE lifts the address rules, never https
    expect((await checkTarget("https://127.0.0.1:8443/hook", true, none)).port).toBe("8443");
    await expect(checkTarget("http://127.0.0.1/hook", true, none)).rejects.toThrow(/https/);
  });

  test("at delivery: every address a name resolves to is checked, and the first one is pinned", async () => {
    const u = new URL("https://rebind.example/hook");
    await expect(resolveTarget(u, false, async () => ["93.184.215.14", "10.0.0.1"])).rejects.toThrow(/10\.0\.0\.1 is private/);
    await expect(resolveTarget(u, false, async () => ["::ffff:127.0.0.1"])).rejects.toThrow(/127\.0\.0\.1 is loopback/);
    expect(await resolveTarget(u, false, async () => ["2606:4700::1111", "93.184.215.14"])).toBe("[2606:4700::1111]");
    expect(await resolveTarget(u, true, async () => ["127.0.0.1"])).toBe("127.0.0.1");
  });
});

describe("a server without WEBHOOK_ALLOW_PRIVATE", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ DATABASE_URL: DB, WEBHOOK_SECRET: SECRET });
  });
  afterAll(() => stopServer(s));

  test("create and PATCH refuse every forbidden form with 400 webhook_url_forbidden, and store nothing", async () => {
    const base = { name: "ssrf", stock: 1, trafficRpm: 0, runningCapacity: 1 };
    const ok = await s.api.createEvent(base);
    expect(ok.status).toBe(201);
    const id = ok.body.id as number;
    for (const webhookUrl of FORBIDDEN_URLS) {
      const created = await s.api.createEvent({ ...base, webhookUrl });
      expect({ webhookUrl, status: created.status, error: created.body.error }).toEqual({ webhookUrl, status: 400, error: "webhook_url_forbidden" });
      expect(typeof created.body.message).toBe("string");
      const patched = await s.api.patch(id, { webhookUrl });
      expect({ webhookUrl, status: patched.status, error: patched.body.error }).toEqual({ webhookUrl, status: 400, error: "webhook_url_forbidden" });
    }
    expect((await s.api.stats(id)).body.webhookUrl).toBeNull();
    const db = connectMysql(DB);
    try {
      const [[r]] = (await db.pool.query("SELECT COUNT(*) AS n FROM coupon_events WHERE webhook_url IS NOT NULL")) as [{ n: number }[], unknown];
      expect(Number(r!.n)).toBe(0);
    } finally {
      await db.close();
    }
    // not a URL at all: a plain bad request
    expect((await s.api.patch(id, { webhookUrl: "not a url" })).body.error).toBe("bad_request");
  });
});

describe("delivery to a name that resolves to loopback", () => {
  test("is refused after resolution (the receiver gets nothing, lastError says why); allowed private, the same name reaches the pinned address with its own TLS name", async () => {
    await migrateDatabase(DB);
    const hook = receiver(tls, SECRET);
    const db = connectMysql(DB);
    // a resolver stub: hooks.test resolves to loopback (as a DNS rebinding would make it)
    const lookup = async (host: string) => (host === "hooks.test" ? ["127.0.0.1"] : Promise.reject(new Error(`ENOTFOUND ${host}`)));
    const base = loadConfig({ NODE_ENV: "test", ADMIN_TOKEN, AUTH_JWT_SECRET: JWT_SECRET, WEBHOOK_CA_FILE: tls.caFile }).webhooks;
    const guarded = new WebhookDispatcher(db, SECRET, { ...base, pollMs: 20, lookup });
    let open: WebhookDispatcher | null = null;
    try {
      const now = new Date();
      const [ins] = (await db.pool.query(
        "INSERT INTO coupon_events (name, stock, traffic_rpm, running_capacity, admit_per_second, starts_at, webhook_url, created_at) VALUES ('rebinding', 1, 0, 1, 1, ?, ?, ?)",
        [now, `https://hooks.test:${hook.port}/hooks/coupons`, now],
      )) as [{ insertId: number }, unknown];
      const eventId = ins.insertId;
      const [row] = (await db.pool.query("INSERT INTO webhook_outbox (event_id, type, body, next_attempt_at, created_at) VALUES (?, 'event.status_changed', ?, ?, ?)", [
        eventId,
        JSON.stringify({ type: "event.status_changed", timestamp: now.toISOString(), data: { eventId, status: "open", previous: "scheduled" } }),
        now,
        now,
      ])) as [{ insertId: number }, unknown];
      guarded.start();
      const attempt = async () => {
        const [[r]] = (await db.pool.query("SELECT attempts, last_error, delivered_at FROM webhook_outbox WHERE id = ?", [row.insertId])) as [any[], unknown];
        return r;
      };
      await waitFor("a refused attempt", async () => (await attempt()).attempts > 0);
      expect(await attempt()).toMatchObject({ delivered_at: null, last_error: expect.stringMatching(/^forbidden target: .*hooks\.test resolves to 127\.0\.0\.1 is loopback/) });
      expect(hook.received.length).toBe(0);
      await guarded.stop();

      // the same name with the address rules lifted: the connection goes to the resolved address,
      // TLS checks the certificate against hooks.test, and the receiver sees its own Host
      open = new WebhookDispatcher(db, SECRET, { ...base, pollMs: 20, lookup, allowPrivate: true, retryBaseMs: 10, retryMaxMs: 50 });
      await db.pool.query("UPDATE webhook_outbox SET next_attempt_at = ? WHERE id = ?", [new Date(), row.insertId]);
      open.start();
      await waitFor("delivered", async () => hook.received.length === 1);
      expect(hook.received[0]).toMatchObject({ id: `msg_${row.insertId}`, host: `hooks.test:${hook.port}`, verified: true });
      await db.pool.query("UPDATE coupon_events SET webhook_url = NULL WHERE id = ?", [eventId]);
    } finally {
      await guarded.stop();
      await open?.stop();
      hook.stop();
      await db.close();
    }
  });
});
