// The listening socket of a real server: its backlog (Send-Q of a LISTEN socket in `ss -ltn`) is
// LISTEN_BACKLOG capped by net.core.somaxconn, not Bun's fixed 512; REUSE_PORT lets a second process
// (here a second app) listen on the same port.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createApp } from "./app";
import { loadConfig } from "./config";
import { ADMIN_TOKEN, JWT_SECRET, startServer, stopServer, TEST_DB, TEST_REDIS, type Started } from "../scripts/testkit";

const somaxconn = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
/** Send-Q of every socket listening on `port` (the backlog the kernel applies). */
function backlogs(port: number): number[] {
  const p = Bun.spawnSync(["ss", "-ltnH", `sport = :${port}`], { stdout: "pipe", stderr: "pipe" });
  return p.stdout.toString().trim().split("\n").filter(Boolean).map((l) => Number(l.trim().split(/\s+/)[2]));
}

const started: Started[] = [];
afterAll(async () => {
  for (const s of started) await stopServer(s);
});

describe("listening socket", () => {
  test("the backlog is LISTEN_BACKLOG (default 4096, capped by somaxconn), not Bun's 512", async () => {
    const s = await startServer();
    started.push(s);
    expect(backlogs(Number(new URL(s.url).port))).toEqual([Math.min(4096, somaxconn)]);
  });

  test("LISTEN_BACKLOG=512 leaves Bun's own", async () => {
    const s = await startServer({ LISTEN_BACKLOG: "512" });
    started.push(s);
    expect(backlogs(Number(new URL(s.url).port))).toEqual([512]);
  });

  test("the port is exclusive by default (Elysia alone would set SO_REUSEPORT): nothing else can listen on it", async () => {
    const s = await startServer();
    started.push(s);
    expect(() => Bun.serve({ port: Number(new URL(s.url).port), reusePort: true, fetch: () => new Response("") })).toThrow();
  });

  test("REUSE_PORT=on: a second server (another process in production) listens on the same port", async () => {
    const first = await startServer({ REUSE_PORT: "on" });
    started.push(first);
    const port = Number(new URL(first.url).port);
    const env = { NODE_ENV: "test", ROLE: "router", REDIS_URL: TEST_REDIS, DATABASE_URL: TEST_DB, ADMIN_TOKEN, AUTH_JWT_SECRET: JWT_SECRET, REDIS_KEY_PREFIX: first.prefix, REUSE_PORT: "on" };
    const second = await createApp(loadConfig(env));
    expect(await second.start(port)).toBe(port);
    expect(backlogs(port)).toHaveLength(2);
    await second.stop();
  });

  test("bad values stop the start with one line", () => {
    const base = { NODE_ENV: "test", ADMIN_TOKEN: "admin-token-123", AUTH_JWT_SECRET: "a-secret-of-sixteen+" };
    expect(loadConfig(base).reusePort).toBe(false);
    expect(() => loadConfig({ ...base, REUSE_PORT: "yes" })).toThrow(/REUSE_PORT must be "on" or "off"/);
    expect(() => loadConfig({ ...base, LISTEN_BACKLOG: "-1" })).toThrow(/LISTEN_BACKLOG must be an integer/);
    expect(() => loadConfig({ ...base, LISTEN_BACKLOG: "lots" })).toThrow(/LISTEN_BACKLOG must be an integer/);
  });
});
