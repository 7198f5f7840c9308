// The door at flash-crowd scale (issue #12), on a Redis of its own so INFO's commands, CPU and
// memory are this scenario's alone:
// (a) each door request against the bare endpoint with the same method, path and headers, in the
//     same run: enter on a sold-out event (new user each time), a poll by a waiter deep in a long
//     line, a new user entering a long line, and the path of those who do get in (enter + issue);
//     Redis commands, Redis CPU and server CPU per request from INFO commandstats / INFO cpu / /proc.
// (b) 1,000,000 distinct users (tokens minted ahead) rush a 1,000-coupon event in waves: all enter,
//     all poll with their tickets, those admitted issue, then everyone polls again and latecomers
//     knock; invariants checked against MySQL, Redis bytes per waiter from INFO memory.
import { Redis } from "ioredis";
import type { Bench } from "../lib/bench";
import { adminClient, dropEvent, fail, verify, type Admin, type Verdict } from "../lib/checks";
import { connectAll } from "../lib/http1";
import { hammer, type Step } from "../lib/load";
import { startProbe, type Profile } from "../lib/probes";
import { single, startBare, startRedis, startServer, type Child } from "../lib/procs";
import type { Run, ScenarioResult } from "../lib/report";
import { Recorder, type LoadStats } from "../lib/stats";
import { Users, type User } from "../lib/users";
import { closedLoop, directEvent } from "./issue-direct";

export const FLASH = {
  soldOut: "sold-out enter",
  deepPoll: "deep poll",
  longLine: "new user into a long line",
  direct: "enter+issue",
  bare: (kind: string) => `bare ${kind}`,
} as const;

/** Per request: Redis commands (every command a script calls counts, and the script itself), Redis CPU, server CPU. */
export function costs(load: LoadStats, p: Profile, serverKey: string) {
  const n = load.all.count || 1;
  return {
    "redis commands/request": Math.round((p.redisCalls / n) * 1000) / 1000,
    "redis CPU µs/request": Math.round(((p.redisCpuS * 1e6) / n) * 10) / 10,
    "server CPU µs/request": Math.round((((p.cpu[serverKey] ?? 0) / 100) * p.windowS * 1e6 / n) * 10) / 10,
  };
}

const ticketOf = (body: string) => {
  const i = body.indexOf('"ticket":"');
  return i < 0 ? null : body.slice(i + 10, body.indexOf('"', i + 10));
};

/** Closed loop through `steps` (warm-up first), probed; stops early when `enough()` says so. */
export async function measured(b: Bench, url: string, pids: Record<string, number>, prefix: string, steps: Step[], opts: { warm?: boolean; durationS?: number; connections?: number; enough?: () => boolean } = {}) {
  const connections = opts.connections ?? b.sizes.direct.connections;
  if (opts.warm !== false) await hammer({ url, ...b.sizes.warmup, steps });
  const probe = await startProbe(b.redis, b.db, pids, prefix);
  let timer: Timer | null = null;
  const load = await hammer({
    url,
    connections,
    durationS: opts.durationS ?? b.sizes.direct.durationS,
    steps,
    onStart: opts.enough ? (stop) => (timer = setInterval(() => opts.enough!() && stop(), 20)) : undefined,
  });
  if (timer) clearInterval(timer);
  return { load, profile: await probe.stop() };
}

const newUserStep = (kind: string, method: "POST" | "GET", path: string, users: Users, onReply?: Step["onReply"]): Step => ({
  kind,
  method,
  path,
  auth: (ctx) => {
    const u = users.take();
    ctx.user = u.id;
    return u.auth;
  },
  onReply,
});

export async function bareRuns(b: Bench, bare: Child, only?: string[]): Promise<Run[]> {
  // the bare app ignores identity; a cycled pool keeps the headers the size of the real runs'
  const users = new Users(b.env.jwtSecret, "bare").prepare(10_000);
  const pool = Array.from({ length: 10_000 }, () => users.take());
  let i = 0;
  const auth = () => pool[i++ % pool.length]!.auth;
  const shapes: [string, Step[]][] = [
    ["enter", [{ kind: "enter", method: "POST", path: "/api/events/1/enter", auth }]],
    ["poll", [{ kind: "poll", method: "GET", path: "/api/events/1/queue", auth }]],
    [
      "enter+issue",
      [
        { kind: "enter", method: "POST", path: "/api/events/1/enter", auth },
        { kind: "issue", method: "POST", path: "/api/events/1/issue", auth },
      ],
    ],
  ];
  const runs: Run[] = [];
  for (const [kind, steps] of shapes) {
    if (only && !only.includes(kind)) continue;
    const { load, profile } = await measured(b, bare.url, { bare: bare.pid }, b.env.prefix, steps);
    runs.push({ label: FLASH.bare(kind), load, profile, extra: costs(load, profile, "bare") });
  }
  return runs;
}

async function doorRuns(b: Bench, bareRps: (kind: string) => number): Promise<Run[]> {
  const prefix = b.prefix("flash-door");
  // waiters keep their place for the whole run (they poll in sweeps, not every few seconds)
  const server = await startServer("flash-door", { ...b.env, prefix }, { QUEUE_WAITER_TIMEOUT_MS: "900000", QUEUE_SLOT_TTL_MS: "900000" });
  const admin = adminClient(server.url, b.env.adminToken);
  const ids: number[] = [];
  const runs: Run[] = [];
  const pids = { server: server.pid };
  const perRun = (kind: string) => Math.ceil(bareRps(kind) * (b.sizes.direct.durationS + b.sizes.warmup.durationS) * 1.2) + 5000;
  const ratio = (load: LoadStats, kind: string) => ({ "throughput / bare": Math.round((load.all.rps / bareRps(kind)) * 100) / 100 });
  try {
    // sold out: one coupon, taken; then a crowd of new users knocks
    const soldOut = (await admin.createEvent({ name: "flash sold out", stock: 1, trafficRpm: 1_000_000_000, runningCapacity: 10 })).id;
    ids.push(soldOut);
    const winner = new Users(b.env.jwtSecret, `fw${soldOut}`).prepare(1).take();
    for (const p of ["enter", "issue"]) await fetch(`${server.url}/api/events/${soldOut}/${p}`, { method: "POST", headers: { authorization: winner.auth } });
    await Bun.sleep(600);
    const knockers = new Users(b.env.jwtSecret, `fs${soldOut}`).prepare(perRun("enter"));
    const so = await measured(b, server.url, pids, prefix, [newUserStep("enter", "POST", `/api/events/${soldOut}/enter`, knockers)]);
    const soVerdict = await verify(b.db, admin, soldOut, 1, new Set([winner.id]), new Set(), { exactRedisView: true, statuses: so.load.all.statuses, expectSoldOut: true });
    const not410 = so.load.all.count - (so.load.all.statuses["410"] ?? 0);
    if (not410) fail(soVerdict, `${not410} enters on the sold-out event were not 410`);
    runs.push({ label: FLASH.soldOut, load: so.load, profile: so.profile, verdict: soVerdict, extra: { ...ratio(so.load, "enter"), ...costs(so.load, so.profile, "server") } });

    // a long line: one admission a second, so it stays put; filled by new users (their tickets kept)
    const line = (await admin.createEvent({ name: "flash long line", stock: 1000, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1 })).id;
    ids.push(line);
    const size = b.sizes.flash.line;
    const fillers = new Users(b.env.jwtSecret, `fl${line}`).prepare(size);
    const tickets: string[] = [];
    let filled = 0;
    await hammer({
      url: server.url,
      connections: b.sizes.direct.connections,
      durationS: 600,
      steps: [
        {
          kind: "enter",
          method: "POST",
          path: `/api/events/${line}/enter`,
          auth: (ctx) => {
            const u = fillers.take();
            ctx.user = u.id;
            return u.auth;
          },
          onReply: (status, _ctx, body) => {
            const t = status === 202 ? ticketOf(body) : null;
            if (t) tickets.push(t);
            filled++;
          },
        },
      ],
      onStart: (stop) => {
        const t = setInterval(() => filled >= size && (clearInterval(t), stop()), 20);
      },
    });
    // deep: everyone but the first tenth (near the head the exact script answers, by design)
    const deep = tickets.slice(Math.floor(tickets.length / 10));
    let k = 0;
    const dp = await measured(b, server.url, pids, prefix, [{ kind: "poll", method: "GET", path: `/api/events/${line}/queue`, auth: () => `Bearer ${deep[k++ % deep.length]}` }]);
    const dpVerdict = await verify(b.db, admin, line, 1000, new Set(), new Set(), { exactRedisView: true, statuses: dp.load.all.statuses });
    const non200 = dp.load.all.count - (dp.load.all.statuses["200"] ?? 0);
    if (non200) fail(dpVerdict, `${non200} polls were not 200`);
    runs.push({ label: FLASH.deepPoll, load: dp.load, profile: dp.profile, verdict: dpVerdict, extra: { "users in line": tickets.length, ...ratio(dp.load, "poll"), ...costs(dp.load, dp.profile, "server") } });

    const newcomers = new Users(b.env.jwtSecret, `fn${line}`).prepare(perRun("enter"));
    const nl = await measured(b, server.url, pids, prefix, [newUserStep("enter", "POST", `/api/events/${line}/enter`, newcomers)]);
    const st = await admin.stats(line);
    const nlVerdict = await verify(b.db, admin, line, 1000, new Set(), new Set(), { exactRedisView: true, statuses: nl.load.all.statuses });
    const not202 = nl.load.all.count - (nl.load.all.statuses["202"] ?? 0);
    if (not202) fail(nlVerdict, `${not202} enters into the line were not 202`);
    runs.push({ label: FLASH.longLine, load: nl.load, profile: nl.profile, verdict: nlVerdict, extra: { "line at the end": st.waiting, ...ratio(nl.load, "enter"), ...costs(nl.load, nl.profile, "server") } });

    // the path of those who get in: enter + issue, distinct users, stock far above demand
    const direct = await directEvent(admin, "flash enter+issue");
    ids.push(direct);
    const d = await closedLoop({ ...b, ceilingRps: bareRps("enter+issue") }, single(server), admin, direct, { label: FLASH.direct, prefix, userTag: "fd", exactRedisView: true });
    d.extra = { ...d.extra, ...ratio(d.load!, "enter+issue"), ...costs(d.load!, d.profile!, "server") };
    runs.push(d);
    return runs;
  } finally {
    await server.stop();
    for (const id of ids) await dropEvent(b.db, id);
  }
}

/** One phase of the rush: a closed loop over `n` requests, `kind` each, probed. */
async function phase(b: Bench, url: string, pids: Record<string, number>, prefix: string, label: string, n: number, step: (i: number) => Step) {
  let sent = 0;
  const s = step(0);
  const probe = await startProbe(b.redis, b.db, pids, prefix);
  const load = await hammer({
    url,
    connections: b.sizes.direct.connections,
    durationS: 3600,
    amount: n,
    steps: [
      {
        ...s,
        auth: (ctx) => {
          const i = sent++;
          ctx.i = i;
          return step(Math.min(i, n - 1)).auth(ctx);
        },
        onReply: (status, ctx, body) => s.onReply?.(status, ctx, body),
      },
    ],
  });
  const profile = await probe.stop();
  return { label, load, profile } as Run & { load: LoadStats; profile: Profile };
}

async function rush(b: Bench): Promise<Run[]> {
  const { users: N, waves, stock } = b.sizes.flash.rush;
  const prefix = b.prefix("flash-rush");
  const server = await startServer("flash-rush", { ...b.env, prefix }, { QUEUE_WAITER_TIMEOUT_MS: "900000", QUEUE_SLOT_TTL_MS: "900000" });
  const admin = adminClient(server.url, b.env.adminToken);
  const pids = { server: server.pid };
  let id = 0;
  try {
    id = (await admin.createEvent({ name: "flash rush", stock, trafficRpm: 0, runningCapacity: stock, admitPerSecond: stock })).id;
    const path = (p: string) => `/api/events/${id}/${p}`;
    const t0 = performance.now();
    const crowd: User[] = new Users(b.env.jwtSecret, `r${id}`).prepare(N).takeAll();
    const mintS = (performance.now() - t0) / 1000;
    const tickets: string[] = new Array(N);
    const statuses = new Map<string, number>();
    const count = (kind: string, status: number) => statuses.set(`${kind} ${status}`, (statuses.get(`${kind} ${status}`) ?? 0) + 1);
    const runs: Run[] = [];
    const mem0 = await usedMemory(b.redis);
    const per = Math.ceil(N / waves);

    // 1. everyone enters, in waves
    for (let w = 0; w < waves; w++) {
      const from = w * per;
      const n = Math.min(per, N - from);
      const r = await phase(b, server.url, pids, prefix, `rush enter wave ${w + 1}/${waves}`, n, (i) => ({
        kind: "enter",
        method: "POST",
        path: path("enter"),
        auth: () => crowd[from + i]!.auth,
        onReply: (status, ctx, body) => {
          count("enter", status);
          if (status === 202) tickets[from + ctx.i] = ticketOf(body)!;
        },
      }));
      r.extra = costs(r.load, r.profile, "server");
      runs.push(r);
    }
    const st = await admin.stats(id);
    const mem1 = await usedMemory(b.redis);
    const keys = { waiting: `${prefix}:{${id}}:waiting`, live: `${prefix}:{${id}}:live` };
    const [zsetBytes, liveBytes] = await Promise.all([b.redis.memory("USAGE", keys.waiting, "SAMPLES", "0"), b.redis.memory("USAGE", keys.live)]);
    const waiters = st.waiting;
    const memory = {
      waiters,
      "used_memory delta (bytes)": mem1 - mem0,
      "bytes per waiter (used_memory)": Math.round(((mem1 - mem0) / Math.max(1, waiters)) * 10) / 10,
      "bytes per waiter (MEMORY USAGE line + liveness)": Math.round(((Number(zsetBytes) + Number(liveBytes)) / Math.max(1, waiters)) * 10) / 10,
    };

    // 2. everyone polls once with their ticket, in entry order: the head learns it is admitted
    const admitted: number[] = [];
    const withTicket = tickets.map((t, i) => (t ? i : -1)).filter((i) => i >= 0);
    for (let w = 0; w < waves; w++) {
      const part = withTicket.slice(w * per, (w + 1) * per);
      if (!part.length) break;
      const r = await phase(b, server.url, pids, prefix, `rush poll wave ${w + 1}/${waves}`, part.length, (i) => ({
        kind: "poll",
        method: "GET",
        path: path("queue"),
        auth: () => `Bearer ${tickets[part[i]!]}`,
        onReply: (status, ctx, body) => {
          count("poll", status);
          if (status === 200 && body.includes('"admitted"')) admitted.push(part[ctx.i]!);
        },
      }));
      r.extra = costs(r.load, r.profile, "server");
      runs.push(r);
    }

    // 3. the admitted take their coupons, with their tickets
    const promised = new Set<string>();
    const inFlight = new Set<string>();
    const conns = await connectAll(server.port, Math.min(200, admitted.length || 1));
    const rec = new Recorder();
    const probe = await startProbe(b.redis, b.db, pids, prefix);
    const ti = performance.now();
    let next = 0;
    await Promise.all(
      conns.map(async (c) => {
        while (next < admitted.length) {
          const i = admitted[next++]!;
          inFlight.add(crowd[i]!.id);
          const r = await c.request("POST", path("issue"), `Bearer ${tickets[i]}`);
          inFlight.delete(crowd[i]!.id);
          rec.add("issue", r.status, r.ms);
          count("issue", r.status);
          if (r.status === 201) promised.add(crowd[i]!.id);
        }
        c.close();
      }),
    );
    const issueLoad = rec.summary((performance.now() - ti) / 1000, conns.length);
    runs.push({ label: "rush issue", load: issueLoad, profile: await probe.stop(), extra: { admitted: admitted.length } });
    await Bun.sleep(600); // one flush: every router knows it is sold out

    // 4. the crowd polls again (a sample) and latecomers knock: all answered from memory
    const again = withTicket.slice(0, Math.ceil(withTicket.length / 5));
    const after = await phase(b, server.url, pids, prefix, "rush poll after sold out", again.length, (i) => ({
      kind: "poll",
      method: "GET",
      path: path("queue"),
      auth: () => `Bearer ${tickets[again[i]!]}`,
      onReply: (status) => count("poll-after", status),
    }));
    after.extra = costs(after.load, after.profile, "server");
    runs.push(after);
    const late = new Users(b.env.jwtSecret, `rl${id}`).prepare(Math.ceil(N / 10)).takeAll();
    const knock = await phase(b, server.url, pids, prefix, "rush latecomers (sold out)", late.length, (i) => ({
      kind: "enter",
      method: "POST",
      path: path("enter"),
      auth: () => late[i]!.auth,
      onReply: (status) => count("late-enter", status),
    }));
    knock.extra = costs(knock.load, knock.profile, "server");
    runs.push(knock);

    const all = Object.fromEntries(statuses);
    const verdict = await verify(b.db, admin, id, stock, promised, inFlight, { exactRedisView: true, statuses: all, expectSoldOut: true });
    const want = (k: string, v: number) => (all[k] ?? 0) !== v && fail(verdict, `${k}: ${all[k] ?? 0}, expected ${v}`);
    want("enter 202", N);
    want("issue 201", stock);
    want("poll-after 200", again.length);
    want("late-enter 410", late.length);
    if (memory["bytes per waiter (used_memory)"] > 150) verdict.notes.push(`Redis bytes per waiter ${memory["bytes per waiter (used_memory)"]} > 150`);
    const total = runs.reduce((a, r) => a + (r.load?.all.count ?? 0), 0);
    const seconds = runs.reduce((a, r) => a + (r.load?.durationS ?? 0), 0);
    runs.push({
      label: "rush verdict",
      verdict,
      extra: { users: N, waves, stock, "tokens minted ahead (s)": Math.round(mintS * 10) / 10, requests: total, "seconds under load": Math.round(seconds), statuses: all, ...memory },
    });
    return runs;
  } finally {
    await server.stop();
    if (id) await dropEvent(b.db, id);
  }
}

async function usedMemory(redis: Redis) {
  return Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1] ?? 0);
}

export async function flash(b: Bench): Promise<ScenarioResult> {
  const own = await startRedis("flash-redis");
  const redis = new Redis(own.url, { connectionName: "coupon-bench", maxRetriesPerRequest: 2 });
  const fb: Bench = { ...b, redis, env: { ...b.env, redisUrl: own.url } };
  const runs: Run[] = [];
  try {
    const bare = await startBare();
    try {
      runs.push(...(await bareRuns(fb, bare)));
    } finally {
      await bare.stop();
    }
    const bareRps = (kind: string) => runs.find((r) => r.label === FLASH.bare(kind))!.load!.all.rps;
    runs.push(...(await doorRuns(fb, bareRps)));
    runs.push(...(await rush(fb)));
  } finally {
    redis.disconnect();
    await own.stop();
  }
  const failures = runs.flatMap((r) => (r.verdict?.ok === false ? r.verdict.failures.map((f) => `${r.label}: ${f}`) : []));
  return {
    name: "flash",
    title: `flash — the door at flash-crowd scale: door requests vs bare, then ${b.sizes.flash.rush.users.toLocaleString("en-US")} users rush ${b.sizes.flash.rush.stock.toLocaleString("en-US")} coupons`,
    ok: !failures.length,
    failures,
    params: { connections: b.sizes.direct.connections, durationS: b.sizes.direct.durationS, line: b.sizes.flash.line, ...b.sizes.flash.rush, redis: "a redis-server of the scenario's own" },
    runs,
  };
}
