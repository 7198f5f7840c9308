// `bun run demo`: starts the all-in-one server, creates an event, sends a rush of distinct users through
// enter → (waiting room) → issue, shows progress live, waits until every promised coupon is in MySQL,
// and prints a verdict checked against MySQL. Options: --users N --stock N --capacity N --rpm N
// --claim manual|on_turn (on_turn: nobody presses issue, the scheduler issues each user's turn) --port N --keep
import { parseArgs } from "node:util";
import { signJwt } from "../src/auth";
import { checkInvariants } from "./testkit";
import mysql from "mysql2/promise";

const { values: opt } = parseArgs({
  options: {
    users: { type: "string", default: "20000" },
    stock: { type: "string", default: "1000" },
    capacity: { type: "string", default: "300" },
    rpm: { type: "string", default: "2000" },
    claim: { type: "string", default: "manual" },
    port: { type: "string", default: process.env.PORT ?? "3000" },
    inflight: { type: "string", default: "512" },
    keep: { type: "boolean", default: false },
  },
});
const USERS = Number(opt.users), STOCK = Number(opt.stock), CAPACITY = Number(opt.capacity), RPM = Number(opt.rpm);
const PORT = Number(opt.port), INFLIGHT = Number(opt.inflight);
const CLAIM = opt.claim as "manual" | "on_turn";
if (CLAIM !== "manual" && CLAIM !== "on_turn") throw new Error("--claim is manual or on_turn");
const SECRET = process.env.AUTH_JWT_SECRET ?? "dev-jwt-secret-change-me";
const ADMIN = process.env.ADMIN_TOKEN ?? "dev-admin-token";
const DB_URL = process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/coupon";
const BASE = `http://127.0.0.1:${PORT}`;
const tty = process.stdout.isTTY;

// ---- the server, as its own process (the load generator must not share its event loop)
const server = Bun.spawn(["bun", "run", "src/main.ts"], {
  env: { ...process.env, NODE_ENV: "development", PORT: String(PORT), ADMIN_TOKEN: ADMIN, AUTH_JWT_SECRET: SECRET, DATABASE_URL: DB_URL },
  stdout: "pipe",
  stderr: "inherit",
});
const stopServer = () => server.kill("SIGTERM");
process.on("SIGINT", () => (stopServer(), process.exit(130)));

async function ready() {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${BASE}/health/ready`)).ok) return;
    } catch {}
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode} (is port ${PORT} free? try --port)`);
    await Bun.sleep(100);
  }
  throw new Error("server not ready after 15 s");
}

// ---- a tiny limiter: thousands of users are "at once", but sockets in flight are bounded
let inflight = 0;
const queue: (() => void)[] = [];
async function call(method: string, path: string, token?: string, body?: unknown) {
  if (inflight >= INFLIGHT) await new Promise<void>((r) => queue.push(r));
  inflight++;
  const t0 = performance.now();
  try {
    const res = await fetch(BASE + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = res.status === 204 ? null : await res.json().catch(() => null);
    stats.requests++;
    return { status: res.status, body: json as any, ms: performance.now() - t0 };
  } finally {
    inflight--;
    queue.shift()?.();
  }
}

const stats = { requests: 0, issued: 0, already: 0, soldOut: 0, waitedUsers: 0, maxWaiting: 0, errors5xx: 0, other: 0 };
const issueLatency: number[] = [];
const allLatency: number[] = [];
const waitTimes: number[] = [];
const winners: string[] = [];
// on_turn: each waiter's arrival sequence (from the waiting ticket) and who got a coupon, to check the order
const seqOf = new Map<string, number>();
const ticketSeq = (ticket: string) => JSON.parse(Buffer.from(ticket.split(".")[1]!, "base64url").toString()).seq as number;
let live = { issued: 0, persisted: 0, waiting: 0, running: 0, pending: 0 };

async function user(eventId: number, i: number) {
  const id = `demo${eventId}u${i}`;
  const token = signJwt(SECRET, id, 3600);
  const t0 = performance.now();
  let r = await call("POST", `/api/events/${eventId}/enter`, token);
  allLatency.push(r.ms);
  if (r.status === 202) {
    stats.waitedUsers++;
    if (r.body?.ticket) seqOf.set(id, ticketSeq(r.body.ticket));
    while (r.body?.status === "waiting") {
      await Bun.sleep(r.body.pollAfterMs);
      r = await call("GET", `/api/events/${eventId}/queue`, token);
      allLatency.push(r.ms);
    }
    if (r.body?.status === "admitted" || r.body?.status === "issued") waitTimes.push(performance.now() - t0);
  }
  if (r.status >= 500) stats.errors5xx++;
  // on_turn: the platform issued it when the user's turn came (at enter when nobody was ahead)
  if (r.body?.status === "issued") return void (stats.issued++, winners.push(id));
  if (r.body?.status !== "admitted") return r.status === 410 || r.body?.status === "sold_out" ? void stats.soldOut++ : void stats.other++;
  const res = await call("POST", `/api/events/${eventId}/issue`, token);
  issueLatency.push(res.ms);
  allLatency.push(res.ms);
  if (res.status === 201) (stats.issued++, winners.push(id));
  else if (res.status === 410) stats.soldOut++;
  else if (res.status === 409) stats.already++;
  else if (res.status >= 500) stats.errors5xx++;
  else stats.other++;
}

const bar = (n: number, of: number, w = 30) => {
  const f = Math.max(0, Math.min(w, Math.round((n / Math.max(1, of)) * w)));
  return "█".repeat(f) + "░".repeat(w - f);
};
const pct = (xs: number[], p: number) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main() {
  await ready();
  const created = await call("POST", "/admin/events", ADMIN, { name: `Demo rush ${new Date().toISOString().slice(11, 19)}`, stock: STOCK, trafficRpm: RPM, runningCapacity: CAPACITY, admitPerSecond: CAPACITY, claim: CLAIM });
  if (created.status !== 201) throw new Error(`could not create the event: ${JSON.stringify(created.body)}`);
  const eventId = created.body.id as number;
  console.log(`event ${eventId}: ${STOCK} coupons, ${USERS} users, claim ${CLAIM}, trafficRpm ${RPM}, runningCapacity ${CAPACITY}, admitPerSecond ${CAPACITY}`);
  console.log(`watch it:  event page ${BASE}/events/${eventId}   admin ${BASE}/admin   swagger ${BASE}/swagger\n`);

  let lastReq = 0, lastAt = performance.now();
  const started = performance.now();
  const show = async (final = false) => {
    const st = (await call("GET", `/admin/events/${eventId}`, ADMIN)).body;
    if (st) live = st;
    stats.maxWaiting = Math.max(stats.maxWaiting, live.waiting);
    const now = performance.now();
    const rps = Math.round(((stats.requests - lastReq) * 1000) / (now - lastAt));
    (lastReq = stats.requests), (lastAt = now);
    const t = ((now - started) / 1000).toFixed(1).padStart(5);
    if (tty) {
      process.stdout.write(
        `\x1b[2K  issued    ${bar(live.issued, STOCK)} ${String(live.issued).padStart(6)}/${STOCK}\n` +
          `\x1b[2K  persisted ${bar(live.persisted, STOCK)} ${String(live.persisted).padStart(6)}/${STOCK}\n` +
          `\x1b[2K  waiting room ${String(live.waiting).padStart(6)}   running ${String(live.running).padStart(5)}   ${String(rps).padStart(6)} req/s   ${t}s` +
          (final ? "\n" : "\x1b[2A\r"),
      );
    } else {
      console.log(`t=${t}s issued=${live.issued}/${STOCK} persisted=${live.persisted} waiting=${live.waiting} running=${live.running} req/s=${rps}`);
    }
  };
  const ticker = setInterval(() => show().catch(() => {}), tty ? 250 : 1000);
  await Promise.all(Array.from({ length: USERS }, (_, i) => user(eventId, i)));
  const rushMs = performance.now() - started;
  // every promised coupon must reach MySQL
  const drainStart = performance.now();
  while (live.pending > 0 || live.persisted < live.issued) {
    await Bun.sleep(100);
    live = (await call("GET", `/admin/events/${eventId}`, ADMIN)).body ?? live;
    if (performance.now() - drainStart > 120_000) break;
  }
  clearInterval(ticker);
  await show(true);

  const u = new URL(DB_URL);
  const db = mysql.createPool({ host: u.hostname, port: Number(u.port || 3306), user: u.username || "root", password: u.password, database: u.pathname.slice(1) });
  const inv = await checkInvariants(db, eventId, STOCK, winners);
  await db.end();
  // on_turn (nobody leaves here): every waiter who got nothing entered after every waiter who got one
  const won = new Set(winners);
  const lastWinner = Math.max(0, ...[...seqOf].filter(([u]) => won.has(u)).map(([, q]) => q));
  const skipped = CLAIM === "on_turn" ? [...seqOf].filter(([u, q]) => q < lastWinner && !won.has(u)).length : 0;
  const ok = inv.overIssue === 0 && inv.duplicates === 0 && inv.lost.length === 0 && inv.phantom.length === 0 && stats.errors5xx === 0 && inv.rows === Math.min(STOCK, USERS) && skipped === 0;
  const rows: [string, string | number][] = [
    ["users", USERS],
    ["stock", STOCK],
    ["issued (201)", stats.issued],
    ["persisted (MySQL rows)", inv.rows],
    ["duplicates", inv.duplicates],
    ["over-issue", inv.overIssue],
    ["lost (201 without row)", inv.lost.length],
    ["phantom (row without 201)", inv.phantom.length],
    ["sold out replies", stats.soldOut],
    ...(CLAIM === "on_turn" ? ([["skipped (entered earlier, no coupon)", skipped]] as [string, number][]) : []),
    ["5xx replies", stats.errors5xx],
    ["went through waiting room", stats.waitedUsers],
    ["max waiting-room length", stats.maxWaiting],
    ["wait p50 / p95 (s)", `${(pct(waitTimes, 50) / 1000).toFixed(2)} / ${(pct(waitTimes, 95) / 1000).toFixed(2)}`],
    ["issue latency p50/p95/p99 (ms)", `${pct(issueLatency, 50).toFixed(1)} / ${pct(issueLatency, 95).toFixed(1)} / ${pct(issueLatency, 99).toFixed(1)}`],
    ["all requests p50/p95/p99/max (ms)", `${pct(allLatency, 50).toFixed(1)} / ${pct(allLatency, 95).toFixed(1)} / ${pct(allLatency, 99).toFixed(1)} / ${pct(allLatency, 100).toFixed(1)}`],
    ["requests", stats.requests],
    ["rush duration (s)", (rushMs / 1000).toFixed(2)],
    ["drain after rush (s)", ((performance.now() - drainStart) / 1000).toFixed(2)],
  ];
  console.log("\nverdict");
  for (const [k, v] of rows) console.log(`  ${k.padEnd(36)} ${v}`);
  console.log(`\n${ok ? "PASS" : "FAIL"}: ${ok ? `exactly the stock issued, one per user, every promise persisted${CLAIM === "on_turn" ? ", in the order of the line" : ""}` : "an invariant was broken"}`);
  if (opt.keep) {
    console.log(`server still running on ${BASE} (Ctrl-C to stop)`);
    await new Promise(() => {});
  }
  stopServer();
  await server.exited;
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(`demo failed: ${e.message}`);
  stopServer();
  process.exit(1);
});
