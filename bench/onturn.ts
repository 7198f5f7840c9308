// `bun run bench/onturn.ts [--users=1000000] [--stock=1000] [--rate=500] [--out=bench/results/<date>-onturn.md]`
// Claim on turn against manual claim, in the same run, on a redis-server of the bench's own (so INFO
// cpu and commandstats count only this) and the real server (ROLE=all: its cron scheduler, issuer).
// For each claim: `users` join a paused event's line through the enter script itself (the door's Lua,
// pipelined from here: the HTTP cost of an enter is the flash scenario's), the event resumes, and:
// - on_turn: nobody does anything; the scheduler issues the head of the line at admitPerSecond;
// - manual: the admitted users press issue (the issue script, from here, in line order, as soon as
//   each is admitted: a press before the admission is refused not_admitted and counted).
// Measured from the resume until stock is gone: time to sell out, Redis CPU (INFO cpu) and script
// calls (commandstats) per coupon, the longest a PING waited; then the line's removal at sold out.
// Checked after the issuer drained: rows = stock, no duplicates, rows = Redis's promises, and the
// winners are exactly the first `stock` users of the line (everyone stayed; nobody may be skipped).
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { newCode } from "../modules/coupon/code";
import { defineScripts, eventKeys } from "../src/redis";
import { adminClient } from "./lib/checks";
import { killAll, startChild, startRedis } from "./lib/procs";

const arg = (name: string, def: number) => Number(Bun.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def);
const USERS = arg("users", 1_000_000), STOCK = arg("stock", 1000), RATE = arg("rate", 500);
const OUT = Bun.argv.find((a) => a.startsWith("--out="))?.split("=")[1] ?? join(import.meta.dir, "results", `${new Date().toISOString().slice(0, 10)}-onturn.md`);
const SCHEMA = "coupon_bench_onturn";
const MODULES = join(import.meta.dir, "..", "modules");

type Cpu = { user: number; sys: number };
const cpu = async (r: Redis): Promise<Cpu> => {
  const t = await r.info("cpu");
  return { user: Number(/used_cpu_user:([\d.]+)/.exec(t)![1]), sys: Number(/used_cpu_sys:([\d.]+)/.exec(t)![1]) };
};
/** commandstats as { command: {calls, usec} } */
const commandstats = async (r: Redis) => {
  const out: Record<string, { calls: number; usec: number }> = {};
  for (const m of (await r.info("commandstats")).matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)) out[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
};
const usedMemory = async (r: Redis) => Number(/used_memory:(\d+)/.exec(await r.info("memory"))?.[1] ?? 0);

type Result = {
  claim: "on_turn" | "manual";
  enterS: number;
  lineBytesPerUser: number;
  sellOutS: number;
  redisCpuMs: number;
  cpuUsPerCoupon: number;
  scriptCalls: number;
  scriptUsec: number;
  commands: number;
  refusedPresses: number;
  worstPingMs: number;
  lineGoneS: number;
  worstPingAtSoldOutMs: number;
  rows: number;
  duplicates: number;
  promises: number;
  skipped: number;
  outOfLine: number;
};

const own = await startRedis("onturn-redis");
process.on("SIGINT", () => (killAll(), process.exit(130)));
const root = await mysql.createConnection({ host: "127.0.0.1", user: "root" });
await root.query(`DROP DATABASE IF EXISTS ${SCHEMA}`);
await root.query(`CREATE DATABASE ${SCHEMA}`);
await root.end();
const env = {
  prefix: `onturn${randomBytes(3).toString("hex")}`,
  adminToken: `bench-admin-${randomBytes(12).toString("hex")}`,
  jwtSecret: `bench-jwt-${randomBytes(16).toString("hex")}`,
  redisUrl: own.url,
  databaseUrl: `mysql://root@127.0.0.1:3306/${SCHEMA}`,
};
// waiters and slots outlive the run: nobody here polls (the HTTP side is the flash scenario's)
// a loaded machine may take a while to bring the server up: 2 minutes
const server = await startChild(
  "onturn",
  "src/main.ts",
  { REDIS_URL: env.redisUrl, REDIS_KEY_PREFIX: env.prefix, DATABASE_URL: env.databaseUrl, ADMIN_TOKEN: env.adminToken, AUTH_JWT_SECRET: env.jwtSecret, QUEUE_WAITER_TIMEOUT_MS: "3600000", QUEUE_MAX_POLL_MS: "5000", QUEUE_SLOT_TTL_MS: "3600000" },
  "/health/ready",
  120_000,
);
const redis = new Redis(own.url, { connectionName: "bench-onturn", maxRetriesPerRequest: 2 });
const probe = new Redis(own.url, { connectionName: "bench-onturn-probe", maxRetriesPerRequest: 2 });
for (const m of ["queue", "coupon"]) defineScripts(redis, join(MODULES, m));
const joiners = Array.from({ length: 4 }, (_, i) => {
  const c = new Redis(own.url, { connectionName: `bench-onturn-join-${i}`, maxRetriesPerRequest: 2 });
  defineScripts(c, join(MODULES, "queue"));
  return c;
});
const script = (name: string) => (redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!.bind(redis);
const admin = adminClient(server.url, env.adminToken);
const db = mysql.createPool({ host: "127.0.0.1", user: "root", database: SCHEMA, connectionLimit: 2 });
const control = (id: number, action: string) => fetch(`${server.url}/admin/events/${id}/${action}`, { method: "POST", headers: { authorization: `Bearer ${env.adminToken}` } });
const users = Array.from({ length: USERS }, (_, i) => `u${i}`);

async function run(claim: "on_turn" | "manual"): Promise<Result> {
  const ev = await admin.createEvent({ name: `bench ${claim}`, stock: STOCK, trafficRpm: 0, runningCapacity: RATE, admitPerSecond: RATE, claim } as Parameters<typeof admin.createEvent>[0]);
  const k = eventKeys(env.prefix, ev.id);
  if (!(await control(ev.id, "pause")).ok) throw new Error("pause failed");
  const mem0 = await usedMemory(redis);
  const t0 = performance.now();
  // four connections, 5,000 enters a round trip each: Redis runs one script at a time, this keeps it busy
  let cursor = 0;
  await Promise.all(
    joiners.map(async (c) => {
      for (let i = (cursor += 5000) - 5000; i < USERS; i = (cursor += 5000) - 5000) {
        const p = c.pipeline() as unknown as Record<string, (...a: unknown[]) => void> & { exec(): Promise<[Error | null, unknown][]> };
        for (const u of users.slice(i, i + 5000)) p.enter!(k.meta, k.issued, k.waiting, k.waitLive, k.waitSeq, k.running, k.slots, k.lapsed, k.admitLog, u, Date.now(), 3_600_000, 0);
        for (const [err, r] of await p.exec()) if (err || (r as string[])[1] !== "waiting") throw new Error(`enter: ${err ?? JSON.stringify(r)}`);
      }
    }),
  );
  const enterS = (performance.now() - t0) / 1000;
  const lineBytesPerUser = Math.round(((await usedMemory(redis)) - mem0) / USERS);
  // the first `stock` of the line, in order: the only users who may get a coupon (nobody leaves here)
  const first = await redis.zrange(k.waiting, "0", String(STOCK - 1));

  // from the resume until the stock is gone
  const [cpu0, cs0] = await Promise.all([cpu(redis), commandstats(redis)]);
  let worstPing = 0;
  let soldOutAt = 0;
  const pinger = (async () => {
    while (!soldOutAt) {
      const p0 = performance.now();
      await probe.ping();
      worstPing = Math.max(worstPing, performance.now() - p0);
      await Bun.sleep(2);
    }
  })();
  const started = performance.now();
  if (!(await control(ev.id, "resume")).ok) throw new Error("resume failed");
  let refusedPresses = 0;
  if (claim === "manual") {
    // each admitted user presses issue at once: in line order, a round per 20 ms
    const issue = script("issue");
    // a press sent just before its user's admission is refused (and pressed again next round); the
    // admission may land between two presses of one round, so one refused can precede one issued
    const done = new Set<string>();
    let next = 0;
    while (next < STOCK) {
      const batch = first.slice(next, Math.min(STOCK, next + RATE)).filter((u) => !done.has(u));
      const replies = (await Promise.all(batch.map((u) => issue(k.meta, k.issued, k.running, k.stream, k.waiting, k.waitLive, k.admitLog, k.holders, k.slots, k.lapsed, u, Date.now(), ev.id, 3_600_000, newCode(), 3_600_000)))) as [string][];
      replies.forEach((r, i) => {
        if (r[0] === "issued") done.add(batch[i]!);
        else if (r[0] === "not_admitted") refusedPresses++;
        else throw new Error(`issue: ${r[0]}`);
      });
      while (next < STOCK && done.has(first[next]!)) next++;
      if (next < STOCK) await Bun.sleep(20);
    }
  }
  while ((await probe.hget(k.meta, "remaining")) !== "0") await Bun.sleep(5);
  const sellOutS = (performance.now() - started) / 1000;
  const [cpu1, cs1] = await Promise.all([cpu(redis), commandstats(redis)]);
  soldOutAt = Date.now();
  await pinger;
  // the line's removal at sold out (the scheduler's next tick), with the longest PING meanwhile
  let worstAtSoldOut = 0;
  const g0 = performance.now();
  while ((await redis.exists(k.waiting)) === 1) {
    const p0 = performance.now();
    await probe.ping();
    worstAtSoldOut = Math.max(worstAtSoldOut, performance.now() - p0);
    await Bun.sleep(2);
  }
  const lineGoneS = (performance.now() - g0) / 1000;

  const scripts = ["evalsha", "eval", "fcall"].reduce((a, c) => ({ calls: a.calls + ((cs1[c]?.calls ?? 0) - (cs0[c]?.calls ?? 0)), usec: a.usec + ((cs1[c]?.usec ?? 0) - (cs0[c]?.usec ?? 0)) }), { calls: 0, usec: 0 });
  const commands = Object.keys(cs1).reduce((a, c) => a + cs1[c]!.calls - (cs0[c]?.calls ?? 0), 0);
  const redisCpuMs = (cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) * 1000;

  // the issuer drains; then MySQL is the judge
  for (const end = Date.now() + 120_000; Date.now() < end; await Bun.sleep(200)) if ((await admin.stats(ev.id)).pending === 0) break;
  const [rows] = (await db.query("SELECT user_id FROM coupon_issues WHERE event_id = ?", [ev.id])) as [{ user_id: string }[], unknown];
  const winners = new Set(rows.map((r) => r.user_id));
  const promises = await redis.hlen(k.issued);
  // everyone stayed: the winners must be exactly the first STOCK users of the line
  const firstSet = new Set(first);
  const skipped = first.filter((u) => !winners.has(u)).length;
  const outOfLine = [...winners].filter((u) => !firstSet.has(u)).length;
  return {
    claim,
    enterS,
    lineBytesPerUser,
    sellOutS,
    redisCpuMs,
    cpuUsPerCoupon: (redisCpuMs * 1000) / STOCK,
    scriptCalls: scripts.calls,
    scriptUsec: scripts.usec,
    commands,
    refusedPresses,
    worstPingMs: worstPing,
    lineGoneS,
    worstPingAtSoldOutMs: worstAtSoldOut,
    rows: rows.length,
    duplicates: rows.length - winners.size,
    promises,
    skipped,
    outOfLine,
  };
}

let results: Result[] = [];
try {
  results = [await run("on_turn"), await run("manual")];
} finally {
  for (const c of [redis, probe, ...joiners]) c.disconnect();
  await db.end();
  await server.stop();
  await own.stop();
}

const f = (n: number, d = 1) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const ok = (r: Result) => r.rows === STOCK && r.duplicates === 0 && r.promises === STOCK && r.skipped === 0 && r.outOfLine === 0;
const [on, man] = results as [Result, Result];
const rowsOf: [string, (r: Result) => string][] = [
  ["users in the line (joined through the enter script, pipelined)", () => USERS.toLocaleString("en-US")],
  ["time to join them all (s)", (r) => f(r.enterS)],
  ["Redis bytes per waiter", (r) => String(r.lineBytesPerUser)],
  ["time from resume to sold out (s)", (r) => f(r.sellOutS, 2)],
  ["Redis CPU from resume to sold out (ms)", (r) => f(r.redisCpuMs)],
  ["**Redis CPU per coupon (µs)**", (r) => `**${f(r.cpuUsPerCoupon)}**`],
  ["script calls per coupon", (r) => f(r.scriptCalls / STOCK, 2)],
  ["script wall time per coupon (µs, commandstats; includes time descheduled on a loaded machine)", (r) => f(r.scriptUsec / STOCK)],
  ["Redis commands per coupon (all clients)", (r) => f(r.commands / STOCK, 1)],
  ["presses refused not_admitted (manual)", (r) => String(r.refusedPresses)],
  ["longest PING wait while selling (ms)", (r) => f(r.worstPingMs)],
  ["line removed after sold out within (s) / longest PING meanwhile (ms)", (r) => `${f(r.lineGoneS, 2)} / ${f(r.worstPingAtSoldOutMs)}`],
  ["rows in MySQL / promises in Redis", (r) => `${r.rows} / ${r.promises}`],
  ["duplicates", (r) => String(r.duplicates)],
  ["first-in-line users without a coupon / winners from further back", (r) => `${r.skipped} / ${r.outOfLine}`],
  ["verdict", (r) => (ok(r) ? "PASS" : "FAIL")],
];
const md = [
  `# Claim on turn vs manual: ${USERS.toLocaleString("en-US")} users for ${STOCK.toLocaleString("en-US")} coupons`,
  "",
  `\`bun run bench/onturn.ts --users=${USERS} --stock=${STOCK} --rate=${RATE}\` on ${navigator.hardwareConcurrency} cores, ${new Date().toISOString().slice(0, 16)}Z. Both events: admitPerSecond ${RATE} (manual: runningCapacity ${RATE} too), the same server and redis-server of the bench's own, one after the other. Redis CPU is INFO cpu (user + sys) over the selling phase: everything Redis did then (scheduler ticks, issue scripts, the issuer's stream reads and acks, the router view's refreshes), divided by the coupons sold. Manual counts only the presses of issue (from here, as the coupon service sends them), not the users' polls: a manual user also has to learn that they are admitted, so this understates manual's cost.`,
  "",
  `| | on_turn | manual |`,
  `|---|---:|---:|`,
  ...rowsOf.map(([label, get]) => `| ${label} | ${get(on)} | ${get(man)} |`),
  "",
  `Redis CPU per coupon, on_turn / manual: **${f(on.cpuUsPerCoupon / man.cpuUsPerCoupon, 2)}**.`,
  "",
].join("\n");
writeFileSync(OUT, md);
console.log(md);
process.exit(results.every(ok) ? 0 : 1);
