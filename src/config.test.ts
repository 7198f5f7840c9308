import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "./config";
import { EXAMPLE_SECRETS, redactUrl, SECRET_VARS } from "./secrets";

// outside production the minimums are the old ones (tests and demos use short, public secrets)
const base = { NODE_ENV: "test", ADMIN_TOKEN: "admin-token-123", AUTH_JWT_SECRET: "a-secret-of-sixteen+" };
// what a production deployment needs
const strong = { ADMIN_TOKEN: "Adm1n-t0ken-of-24-chars-x", AUTH_JWT_SECRET: "a-jwt-secret-of-32-bytes-or-more!" };
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
  test("EMBED_ORIGINS: a comma list of origins, nothing more", () => {
    expect(loadConfig(base).embedOrigins).toEqual([]);
    expect(loadConfig({ ...base, EMBED_ORIGINS: "https://shop.example, http://localhost:8080" }).embedOrigins).toEqual(["https://shop.example", "http://localhost:8080"]);
    for (const bad of ["shop.example", "https://shop.example/path", "https://*.shop.example", "'self'", "https://shop.example 'unsafe-inline'", "javascript:alert(1)", "https://user:pw@shop.example", "https://shop.example,"])
      fails({ EMBED_ORIGINS: bad }, /EMBED_ORIGINS must be a comma list of origins/);
  });
  test("secrets are required outside development, with dev defaults inside it", () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: "test" })).toThrow(/ADMIN_TOKEN is required/);
    fails({ ADMIN_TOKEN: "" }, /ADMIN_TOKEN is required/);
    expect(() => loadConfig({ NODE_ENV: "test", ADMIN_TOKEN: "admin-token-123" })).toThrow(/AUTH_JWT_SECRET is required/);
    expect(loadConfig({ NODE_ENV: "development" }).adminToken).toBeTruthy();
  });
  test("bad settings stop the start with a clear message", () => {
    fails({ ROLE: "router,cashier" }, /ROLE must be/);
    fails({ PORT: "70000" }, /PORT must be an integer/);
    fails({ PORT: "abc" }, /PORT must be an integer/);
    fails({ REDIS_URL: "http://x" }, /REDIS_URL must use redis:/);
    fails({ DATABASE_URL: "not a url" }, /DATABASE_URL is not a valid URL/);
    fails({ DATABASE_URL: "mysql://root:pw@bad host/x" }, /^DATABASE_URL is not a valid URL \(expected mysql:\/\/\[user:password@\]host/);
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
  test("production (NODE_ENV=production or unset) refuses an ADMIN_TOKEN under 24 characters and an AUTH_JWT_SECRET under 32 bytes", () => {
    for (const NODE_ENV of [undefined, "", "production"]) {
      const env = NODE_ENV === undefined ? {} : { NODE_ENV };
      expect(loadConfig({ ...env, ...strong }).production).toBe(true);
      expect(() => loadConfig({ ...env, ...strong, ADMIN_TOKEN: "x".repeat(23) })).toThrow("ADMIN_TOKEN must be at least 24 characters in production");
      expect(() => loadConfig({ ...env, ...strong, AUTH_JWT_SECRET: "x".repeat(31) })).toThrow("AUTH_JWT_SECRET must be at least 32 bytes in production");
      // bytes, not characters: 16 two-byte characters are 32 bytes
      expect(loadConfig({ ...env, ...strong, AUTH_JWT_SECRET: "é".repeat(16) }).jwtSecret).toBe("é".repeat(16));
      expect(() => loadConfig({ ...env, ...strong, API_KEY_PEPPER: "x".repeat(31) })).toThrow("API_KEY_PEPPER must be at least 32 bytes");
    }
    // elsewhere the old minimums hold
    expect(loadConfig({ ...base, NODE_ENV: "test" }).production).toBe(false);
    expect(() => loadConfig({ ...base, ADMIN_TOKEN: "short" })).toThrow("ADMIN_TOKEN must be at least 8 characters");
    expect(() => loadConfig({ ...base, AUTH_JWT_SECRET: "short" })).toThrow("AUTH_JWT_SECRET must be at least 16 bytes");
  });

  test("production refuses every example secret of the docs, for every secret, and never prints it", () => {
    for (const name of SECRET_VARS)
      for (const example of EXAMPLE_SECRETS) {
        const env: Record<string, string> = { ...strong, COUPON_URL: "http://coupon:3000", INTERNAL_TOKEN: "an-internal-token-of-24-chars+", [name]: example };
        let message = "";
        try {
          loadConfig(env);
        } catch (e) {
          message = (e as Error).message;
        }
        expect({ name, example, refused: message.startsWith(name) }).toEqual({ name, example, refused: true });
        expect(message).not.toContain(example);
      }
    // a long example is refused for what it is, not for its length
    expect(() => loadConfig({ ...strong, ADMIN_TOKEN: "change-me-please-32-bytes" })).toThrow("ADMIN_TOKEN is an example value from the docs");
    // outside production the examples work (the demo and the tests use them)
    expect(loadConfig({ NODE_ENV: "development", ADMIN_TOKEN: "change-me-admin", AUTH_JWT_SECRET: "change-me-please-32-bytes" }).adminToken).toBe("change-me-admin");
  });

  test("every secret the README, the docs and the deployment examples show is in the list of example values", async () => {
    const root = join(import.meta.dir, "..");
    const files = ["README.md", "compose.yaml", "bench/README.md", ...readdirSync(join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`), ...readdirSync(join(root, "deploy/k8s")).map((f) => `deploy/k8s/${f}`)];
    const shown: { file: string; name: string; value: string }[] = [];
    for (const file of files) {
      const text = await Bun.file(join(root, file)).text();
      for (const m of text.matchAll(new RegExp(`\\b(${SECRET_VARS.join("|")})["']?\\s*[=:]\\s*["']?([^\\s"'\`,;)]*)`, "g"))) shown.push({ file, name: m[1]!, value: m[2]! });
    }
    // the docs show how to set them (docs/deployment.md), so the scan finds something
    expect(shown.filter((s) => s.file.startsWith("docs/")).length).toBeGreaterThan(0);
    // a placeholder (…, $VAR, ${VAR…}, <…>, $(openssl …), empty) or a listed example
    const placeholder = (v: string) => v === "" || /^(…|\$|<)/.test(v);
    expect(shown.filter((s) => !placeholder(s.value) && !EXAMPLE_SECRETS.includes(s.value))).toEqual([]);
  });

  test("INTERNAL_TOKEN: required by every process of a split deployment, never the admin token", () => {
    const internal = { INTERNAL_TOKEN: "an-internal-token-of-24-chars+" };
    for (const env of [{ ROLE: "router", QUEUE_URL: "http://q:3000" }, { ROLE: "router", COUPON_URL: "http://c:3000" }, { ROLE: "queue" }, { ROLE: "coupon" }, { ROLE: "queue,coupon,issuer" }]) {
      expect(() => loadConfig({ ...strong, ...env })).toThrow("INTERNAL_TOKEN is required in a split deployment");
      expect(loadConfig({ ...strong, ...env, ...internal }).internalToken).toBe(internal.INTERNAL_TOKEN);
    }
    // one process, or an issuer on its own: not needed
    for (const env of [{}, { ROLE: "router" }, { ROLE: "issuer" }, { ROLE: "router,queue,coupon" }]) expect(loadConfig({ ...strong, ...env }).internalToken).toBeUndefined();
    expect(() => loadConfig({ ...strong, ROLE: "queue", INTERNAL_TOKEN: strong.ADMIN_TOKEN })).toThrow("INTERNAL_TOKEN must differ from ADMIN_TOKEN");
    expect(() => loadConfig({ ...strong, ROLE: "queue", INTERNAL_TOKEN: "x".repeat(23) })).toThrow("INTERNAL_TOKEN must be at least 24 characters in production");
  });

  test("a config error never prints a URL's credentials", () => {
    const leaks = (env: Record<string, string>) => {
      let message = "";
      try {
        loadConfig({ ...base, ...env });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).not.toBe("");
      return message;
    };
    for (const [name, value] of [
      ["DATABASE_URL", "mysql://root:hunter2-secret@db host:3306/coupon"],
      ["DATABASE_URL", "postgres://root:hunter2-secret@db:5432/coupon"],
      ["REDIS_URL", "http://:hunter2-secret@redis:6379/0"],
      ["REDIS_URL", "redis://default:hunter2-secret@re dis:6379"],
      ["QUEUE_URL", "ftp://u:hunter2-secret@q"],
    ] as const) expect({ name, message: leaks({ [name]: value }).includes("hunter2") }).toEqual({ name, message: false });
    expect(redactUrl('start failed: connect mysql://app:s3cr3t@db:3306/x and redis://:pw@r:6379 refused')).toBe("start failed: connect mysql://app:***@db:3306/x and redis://:***@r:6379 refused");
  });

  test("a bad setting stops the process with one line and exit code 1", async () => {
    const p = Bun.spawn(["bun", "run", "src/main.ts"], { env: { ...process.env, ...base, PORT: "-1" }, stderr: "pipe", stdout: "pipe" });
    const err = await new Response(p.stderr).text();
    expect(await p.exited).toBe(1);
    expect(err.trim().split("\n")).toEqual(["config error: PORT must be an integer in 0..65535, got \"-1\""]);
  });
});
