// Servers under test run as child processes so the load generator never shares their event loop.
import type { Subprocess } from "bun";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
export const LOG_DIR = join(import.meta.dir, "..", "results", "logs");

export type Child = { name: string; pid: number; port: number; url: string; log: string; stop(): Promise<void> };

const live = new Set<Subprocess>();
let cpuProfileDir: string | null = null;

/** With --cpu-prof, every child writes a CPU profile (and its markdown digest) here when it exits. */
export function profileChildren(dir: string) {
  mkdirSync(dir, { recursive: true });
  cpuProfileDir = dir;
}

/** Kills every child still running (used on errors and signals, so no process outlives the bench). */
export function killAll() {
  for (const p of live) p.kill("SIGKILL");
  live.clear();
}

export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

async function tail(path: string, lines = 15) {
  const text = await Bun.file(path).text().catch(() => "");
  return text.split("\n").slice(-lines).join("\n");
}

/**
 * Starts `bun run <entry>` with `env` on a free port and waits until `readyPath` answers 200.
 * Output goes to bench/results/logs/<name>.log (git-ignored).
 */
export async function startChild(name: string, entry: string, env: Record<string, string>, readyPath = "/health/ready", timeoutMs = 30_000): Promise<Child> {
  mkdirSync(LOG_DIR, { recursive: true });
  const port = freePort();
  const log = join(LOG_DIR, `${name}.log`);
  const prof = cpuProfileDir ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${cpuProfileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
  const proc = Bun.spawn(["bun", ...prof, "run", entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "production", HOST: "127.0.0.1", ...env, PORT: String(port) },
    stdout: Bun.file(log),
    stderr: "pipe",
  });
  live.add(proc);
  // stderr is kept in memory (small) so a failed start can say why
  let stderr = "";
  (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) stderr = (stderr + new TextDecoder().decode(chunk)).slice(-4000);
  })().catch(() => {});
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode} before it was ready:\n${stderr}${await tail(log)}`);
    const ok = await fetch(url + readyPath).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${name} not ready after ${timeoutMs} ms:\n${stderr}${await tail(log)}`);
    }
    await Bun.sleep(100);
  }
  return {
    name,
    pid: proc.pid,
    port,
    url,
    log,
    // graceful first (the issuer finishes its batch), then forced
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
        if (!done) proc.kill("SIGKILL");
        await proc.exited;
      }
      live.delete(proc);
      if (stderr.trim()) await Bun.write(log.replace(/\.log$/, ".stderr.log"), stderr);
    },
  };
}

/**
 * A Redis of the bench's own on a free port (no persistence), so that commands, CPU and memory
 * counted by INFO are this scenario's alone: the shared Redis on 6379 also serves other users.
 */
export async function startRedis(name: string): Promise<{ url: string; port: number; pid: number; stop(): Promise<void> }> {
  mkdirSync(LOG_DIR, { recursive: true });
  const port = freePort();
  const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "10000"], {
    stdout: Bun.file(join(LOG_DIR, `${name}.log`)),
    stderr: "pipe",
  });
  live.add(proc);
  for (const end = Date.now() + 10_000; ; ) {
    const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true), () => false);
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > end) throw new Error(`redis-server on ${port} did not start`);
    await Bun.sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    pid: proc.pid,
    async stop() {
      proc.kill("SIGKILL");
      await proc.exited;
      live.delete(proc);
    },
  };
}

export type ServerEnv = { prefix: string; adminToken: string; jwtSecret: string; redisUrl: string; databaseUrl: string };

/** The real server (`bun run src/main.ts`) with the bench's Redis db, key prefix and MySQL schema. */
export function startServer(name: string, base: ServerEnv, extra: Record<string, string> = {}): Promise<Child> {
  return startChild(name, "src/main.ts", {
    REDIS_URL: base.redisUrl,
    REDIS_KEY_PREFIX: base.prefix,
    DATABASE_URL: base.databaseUrl,
    ADMIN_TOKEN: base.adminToken,
    AUTH_JWT_SECRET: base.jwtSecret,
    ...extra,
  });
}

/** The ceiling: a bare Elysia app on the same machine (bench/servers/bare.ts). */
export function startBare(): Promise<Child> {
  return startChild("bare", "bench/servers/bare.ts", {}, "/health/ready");
}

/** What a scenario drives: the URL clients talk to, and every process behind it (for the CPU probe). */
export type Deployment = { url: string; port: number; pids: Record<string, number>; stop(): Promise<void> };

/** One process (ROLE=all) as a deployment. */
export const single = (c: Child, label = "server"): Deployment => ({ url: c.url, port: c.port, pids: { [label]: c.pid }, stop: () => c.stop() });

/**
 * The README's four roles as separate processes: queue and coupon, two issuers (one consumer group),
 * then a router with QUEUE_URL / COUPON_URL. Clients talk to the router only. A failed start stops
 * whatever had started.
 */
export async function startSplit(name: string, base: ServerEnv): Promise<Deployment> {
  const up: { role: string; child: Child }[] = [];
  // the router first (no new client traffic), the issuers last (they ack the batch in hand)
  const stopAll = async () => {
    for (const { child } of [...up].reverse()) await child.stop();
  };
  const start = async (roles: Record<string, Record<string, string>>) => {
    const names = Object.keys(roles);
    const started = await Promise.allSettled(names.map((role) => startServer(`${name}-${role}`, base, roles[role])));
    started.forEach((s, i) => s.status === "fulfilled" && up.push({ role: names[i]!, child: s.value }));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) throw failed.reason;
  };
  const urlOf = (role: string) => up.find((u) => u.role === role)!.child.url;
  try {
    await start({ queue: { ROLE: "queue" }, coupon: { ROLE: "coupon" } });
    // issuers after coupon: each migrates the schema on start, and concurrent migrations could race
    await start({ "issuer-1": { ROLE: "issuer" }, "issuer-2": { ROLE: "issuer" } });
    await start({ router: { ROLE: "router", QUEUE_URL: urlOf("queue"), COUPON_URL: urlOf("coupon") } });
  } catch (e) {
    await stopAll();
    throw e;
  }
  const router = up.at(-1)!.child;
  return { url: router.url, port: router.port, pids: Object.fromEntries(up.map((u) => [u.role, u.child.pid])), stop: stopAll };
}
