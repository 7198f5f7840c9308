// A redis-server of a test's own on a free port, which the test may kill and restart (empty, or from
// its AOF) without touching the shared Redis.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adopt } from "./testkit";

export type Persistence = "none" | "everysec" | "always";

export function ownRedis(persistence: Persistence = "none", extra: string[] = []) {
  const port = 17000 + Math.floor(Math.random() * 2000);
  const dir = mkdtempSync(join(tmpdir(), "coupon-redis-"));
  let proc: Bun.Subprocess | null = null;
  const args = () => {
    const a = ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--maxmemory-policy", "noeviction"];
    return [...a, ...(persistence === "none" ? ["--appendonly", "no"] : ["--appendonly", "yes", "--appendfsync", persistence]), ...extra];
  };
  const cli = async (...cmd: string[]) => {
    const p = Bun.spawn(["redis-cli", "-p", String(port), ...cmd], { stdout: "pipe", stderr: "ignore" });
    return (await new Response(p.stdout).text()).trim();
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    cli,
    async start() {
      proc = adopt(Bun.spawn(args(), { stdout: "ignore", stderr: "ignore" }));
      for (let i = 0; i < 200; i++) {
        if ((await cli("ping")) === "PONG") return;
        await Bun.sleep(50);
      }
      proc.kill("SIGKILL");
      throw new Error("redis did not come up");
    },
    /** SIGKILL: what was not yet written to the AOF is gone. */
    async crash() {
      proc?.kill("SIGKILL");
      await proc?.exited;
      proc = null;
    },
    /** Crashes and starts again with nothing (its files removed). */
    async restartEmpty() {
      await this.crash();
      rmSync(dir, { recursive: true, force: true });
      (await import("node:fs")).mkdirSync(dir);
      await this.start();
    },
    async stop() {
      await this.crash();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
