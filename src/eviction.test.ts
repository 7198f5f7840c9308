// Redis must not evict keys (contract, Hardening; issue #19, finding 5): a process refuses to start on
// another maxmemory-policy with one line, and only warns where CONFIG GET is refused (managed Redis).
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ownRedis } from "../scripts/redis-server";
import { spawnServer, type Proc } from "../scripts/testkit";

setDefaultTimeout(120_000);

const servers: ReturnType<typeof ownRedis>[] = [];
const procs: Proc[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill("SIGKILL")));
  for (const r of servers) await r.stop();
});

async function redisWith(...extra: string[]) {
  const r = ownRedis("none", extra);
  servers.push(r);
  await r.start();
  return r;
}

describe("Redis eviction policy at start", () => {
  test("allkeys-lru: the process refuses to start, saying why in one line", async () => {
    const r = await redisWith("--maxmemory-policy", "allkeys-lru");
    let out = "";
    await spawnServer({ REDIS_URL: r.url, REDIS_KEY_PREFIX: "evict" }).then((p) => procs.push(p), (e) => (out = String(e.message)));
    expect(out).toContain("exit 1");
    const lines = out.split("\n").filter((l) => l.includes("maxmemory-policy"));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("start failed: Redis runs with maxmemory-policy allkeys-lru; it must be noeviction");
  });

  test("CONFIG refused (a managed Redis): it starts, with a warning", async () => {
    const r = await redisWith("--rename-command", "CONFIG", "");
    const p = await spawnServer({ REDIS_URL: r.url, REDIS_KEY_PREFIX: "evict" });
    procs.push(p);
    expect(p.log()).toContain("cannot read maxmemory-policy");
    expect((await fetch(`${p.url}/health/live`)).status).toBe(200);
  });
});
