import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "./config";

const base = { ADMIN_TOKEN: "admin-token-123", AUTH_JWT_SECRET: "a-secret-of-sixteen+" };
const fails = (env: Record<string, string>, message: RegExp) => expect(() => loadConfig({ ...base, ...env })).toThrow(message);

describe("configuration", () => {
  test("defaults follow the contract", () => {
    const c = loadConfig(base);
    expect([...c.roles].sort()).toEqual(["coupon", "issuer", "queue", "router"]);
    expect(c.port).toBe(3000);
    expect(c.redisUrl).toBe("redis://127.0.0.1:6379/0");
    expect(c.databaseUrl).toBe("mysql://root@127.0.0.1:3306/coupon");
    expect(c.issueStrategy).toBe("redis");
    expect(c.queueUrl).toBeUndefined();
    expect(c.rateLimit.trustProxyHops).toBe(0);
    expect(c.swagger).toBe(true);
    expect(c.metricsToken).toBeUndefined();
    expect(c.jwtIssuer).toBeUndefined();
    expect(c.jwtAudience).toBeUndefined();
  });
  test("TRUST_PROXY is off or a number of hops; the old \"on\" (trust whatever the client wrote) is refused", () => {
    expect(loadConfig({ ...base, TRUST_PROXY: "off" }).rateLimit.trustProxyHops).toBe(0);
    expect(loadConfig({ ...base, TRUST_PROXY: "1" }).rateLimit.trustProxyHops).toBe(1);
    expect(loadConfig({ ...base, TRUST_PROXY: "2" }).rateLimit.trustProxyHops).toBe(2);
    for (const bad of ["on", "true", "0", "-1", "1.5", "01", "100", " 1"]) fails({ TRUST_PROXY: bad }, /TRUST_PROXY must be "off" or the number of trusted proxy hops/);
  });
  test("SWAGGER, METRICS_TOKEN, AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE", () => {
    expect(loadConfig({ ...base, SWAGGER: "off" }).swagger).toBe(false);
    fails({ SWAGGER: "no" }, /SWAGGER must be "on" or "off"/);
    expect(loadConfig({ ...base, METRICS_TOKEN: "scrape-me-please" }).metricsToken).toBe("scrape-me-please");
    fails({ METRICS_TOKEN: "short" }, /METRICS_TOKEN must be at least 8/);
    const c = loadConfig({ ...base, AUTH_JWT_ISSUER: "https://shop.example", AUTH_JWT_AUDIENCE: "coupons" });
    expect([c.jwtIssuer, c.jwtAudience]).toEqual(["https://shop.example", "coupons"]);
  });
  test("secrets are required outside development, with dev defaults inside it", () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    fails({ ADMIN_TOKEN: "" }, /ADMIN_TOKEN is required/);
    expect(() => loadConfig({ ADMIN_TOKEN: "admin-token-123" })).toThrow(/AUTH_JWT_SECRET is required/);
    expect(loadConfig({ NODE_ENV: "development" }).adminToken).toBeTruthy();
  });
  test("bad settings stop the start with a clear message", () => {
    fails({ ROLE: "router,cashier" }, /ROLE must be/);
    fails({ PORT: "70000" }, /PORT must be an integer/);
    fails({ PORT: "abc" }, /PORT must be an integer/);
    fails({ REDIS_URL: "http://x" }, /REDIS_URL must use redis:/);
    fails({ DATABASE_URL: "not a url" }, /DATABASE_URL is not a valid URL/);
    fails({ ISSUE_STRATEGY: "optimistic" }, /ISSUE_STRATEGY/);
    fails({ REDIS_CLUSTER_NODES: "a:1,b" }, /REDIS_CLUSTER_NODES/);
    fails({ QUEUE_URL: "ftp://q" }, /QUEUE_URL must use/);
    fails({ QUEUE_MAX_POLL_MS: "70000" }, /at most half of QUEUE_WAITER_TIMEOUT_MS/);
    // a slot expiry past any representable date answered 500 while granting the slot
    fails({ QUEUE_SLOT_TTL_MS: "9e15" }, /QUEUE_SLOT_TTL_MS must be an integer in 1000\.\.86400000/);
    fails({ QUEUE_WAITER_TIMEOUT_MS: "99999999999" }, /QUEUE_WAITER_TIMEOUT_MS must be an integer/);
    fails({ WEBHOOK_SECRET: "short" }, /WEBHOOK_SECRET must be at least 16/);
    fails({ RECONCILE_FENCE_MS: "-5" }, /RECONCILE_FENCE_MS must be an integer/);
  });
  test("role lists select modules", () => {
    expect([...loadConfig({ ...base, ROLE: "router, issuer" }).roles]).toEqual(["router", "issuer"]);
    const c = loadConfig({ ...base, REDIS_CLUSTER_NODES: "10.0.0.1:7000,10.0.0.2:7001" });
    expect(c.redisClusterNodes).toEqual([{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 7001 }]);
  });
  test("a bad setting stops the process with one line and exit code 1", async () => {
    const p = Bun.spawn(["bun", "run", "src/main.ts"], { env: { ...process.env, ...base, PORT: "-1" }, stderr: "pipe", stdout: "pipe" });
    const err = await new Response(p.stderr).text();
    expect(await p.exited).toBe(1);
    expect(err.trim().split("\n")).toEqual(["config error: PORT must be an integer in 0..65535, got \"-1\""]);
  });
});
