// The waiting room, two ways:
// - flow: 4,500 users, each on its own connection, enter at the same instant (trafficRpm 0, so all
//   of them queue), poll every 300 ms as the original did, and issue once admitted. Stock is below
//   demand, so the line also has to end cleanly with sold_out.
// - poll-saturation: the poll endpoint alone, closed-loop at the baseline's connections, for waiting
//   users: its throughput against the bare endpoint's.
import { dropKeys, type Bench } from "../lib/bench";
import { adminClient, dropEvent, fail, verify, type Admin } from "../lib/checks";
import { newOutcomes } from "../lib/flows";
import { connectAll, type Conn } from "../lib/http1";
import { hammer } from "../lib/load";
import { startProbe } from "../lib/probes";
import { single, startServer, type Deployment } from "../lib/procs";
import type { Run, ScenarioResult } from "../lib/report";
import { Recorder } from "../lib/stats";
import { Users, type User } from "../lib/users";

/**
 * `users` each on their own connection enter `eventId` in the same tick (the herd arrives at once),
 * poll every `pollMs` while waiting, and issue once admitted.
 */
async function herd(port: number, eventId: number, users: User[], pollMs: number) {
  const conns = await connectAll(port, users.length);
  const path = (p: string) => `/api/events/${eventId}/${p}`;
  const rec = new Recorder();
  const out = newOutcomes();
  const failures = new Map<string, number>();
  let admitted = 0;
  let polls = 0;
  let firstPoll = Infinity;
  let lastPoll = 0;
  let soldOutAt: number | null = null;

  async function user(c: Conn, u: User) {
    const call = async (kind: string, method: string, p: string) => {
      const r = await c.request(method, path(p), u.auth);
      rec.add(kind, r.status, r.ms);
      return r;
    };
    try {
      let r = await call("enter", "POST", "enter");
      let state = r.status === 200 ? "admitted" : r.status === 202 ? "waiting" : "out";
      while (state === "waiting") {
        await Bun.sleep(pollMs);
        r = await call("poll", "GET", "queue");
        const now = performance.now();
        polls++;
        firstPoll = Math.min(firstPoll, now);
        lastPoll = now;
        const s = r.status === 200 ? (JSON.parse(r.body).status as string) : `http ${r.status}`;
        if (s === "admitted") state = "admitted";
        else if (s !== "waiting") {
          state = "out";
          if (s === "sold_out") soldOutAt ??= now;
        }
      }
      if (state !== "admitted") return;
      admitted++;
      out.inFlight.add(u.id);
      r = await call("issue", "POST", "issue");
      out.inFlight.delete(u.id);
      if (r.status === 201) out.promised.add(u.id);
      if (r.status === 410) soldOutAt ??= performance.now();
    } catch (e) {
      const msg = (e as Error).message;
      failures.set(msg, (failures.get(msg) ?? 0) + 1);
      if (msg === "timeout") rec.timeouts++;
      rec.errors++;
    } finally {
      c.close();
    }
  }

  const t0 = performance.now();
  await Promise.all(conns.map((c, i) => user(c, users[i]!)));
  const durationS = (performance.now() - t0) / 1000;
  return {
    out,
    failures,
    load: rec.summary(durationS, users.length),
    extra: {
      admitted,
      polls,
      "polls/s while waiting": polls / Math.max(0.001, (lastPoll - firstPoll) / 1000),
      "sold out after (s)": soldOutAt === null ? "never" : (soldOutAt - t0) / 1000,
      "last user done after (s)": durationS,
    },
  };
}

async function flowRun(b: Bench): Promise<Run> {
  const { users: n, stock, runningCapacity, pollMs } = b.sizes.waiting;
  const prefix = b.prefix("waiting");
  const server = await startServer("waiting-room", { ...b.env, prefix });
  const ids: number[] = [];
  try {
    const admin = adminClient(server.url, b.env.adminToken);
    const newEvent = async (name: string, stock: number) => {
      const id = (await admin.createEvent({ name, stock, trafficRpm: 0, runningCapacity })).id;
      ids.push(id);
      return id;
    };
    // a small herd first, so the measured one meets warm routes (a live server has served before a sale)
    const warmId = await newEvent("bench waiting room warm-up", 50);
    const warmUsers = new Users(b.env.jwtSecret, `ww${warmId}`).prepare(100);
    const warm = await herd(server.port, warmId, Array.from({ length: 100 }, () => warmUsers.take()), pollMs);
    const eventId = await newEvent("bench waiting room", stock);
    const users = new Users(b.env.jwtSecret, `w${eventId}`).prepare(n);
    const crowd = Array.from({ length: n }, () => users.take());
    const probe = await startProbe(b.redis, b.db, { server: server.pid }, prefix);
    const h = await herd(server.port, eventId, crowd, pollMs);
    const profile = await probe.stop();
    const verdict = await verify(b.db, admin, eventId, stock, h.out.promised, h.out.inFlight, { exactRedisView: true, statuses: h.load.all.statuses, expectSoldOut: n > stock });
    if (h.failures.size) fail(verdict, `transport failures: ${[...h.failures].map(([m, k]) => `${m} ×${k}`).join(", ")}`);
    const warmVerdict = await verify(b.db, admin, warmId, 50, warm.out.promised, warm.out.inFlight, { exactRedisView: true, statuses: warm.load.all.statuses, expectSoldOut: true });
    for (const f of warmVerdict.failures) fail(verdict, `warm-up herd: ${f}`);
    return { label: "flow", load: h.load, verdict, profile, extra: { users: n, pollMs, ...h.extra } };
  } finally {
    await server.stop();
    await dropKeys(b.redis, `${prefix}:*`);
    for (const id of ids) await dropEvent(b.db, id);
  }
}

/** One admission a second: the line stays put, so every poll is a waiting user's. */
export const lineEvent = async (admin: Admin, name: string) => (await admin.createEvent({ name, stock: 1, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1 })).id;

/** Fills `eventId`'s line through `d`, then polls it closed-loop (after a warm-up) and checks it. */
export async function pollSaturation(b: Bench, d: Deployment, admin: Admin, eventId: number, o: { label: string; prefix: string }): Promise<Run> {
  const { connections, durationS } = b.sizes.pollSaturation;
  // enough users that none of them nears the per-user rate limit (10/s) at the ceiling's rate
  const size = Math.max(connections, Math.ceil((b.ceilingRps || 30_000) / 5));
  const users = new Users(b.env.jwtSecret, `p${eventId}`).prepare(size);
  const line = Array.from({ length: size }, () => users.take());
  const conns = await connectAll(d.port, Math.min(200, connections));
  for (let i = 0; i < line.length; i += conns.length)
    await Promise.all(conns.map((c, j) => (line[i + j] ? c.request("POST", `/api/events/${eventId}/enter`, line[i + j]!.auth) : null)));
  for (const c of conns) c.close();

  let i = 0;
  const steps = [{ kind: "poll", method: "GET" as const, path: `/api/events/${eventId}/queue`, auth: () => line[i++ % line.length]!.auth }];
  await hammer({ url: d.url, ...b.sizes.warmup, steps });
  const probe = await startProbe(b.redis, b.db, d.pids, o.prefix);
  const load = await hammer({ url: d.url, connections, durationS, steps });
  const profile = await probe.stop();
  const verdict = await verify(b.db, admin, eventId, 1, new Set(), new Set(), { exactRedisView: true, statuses: load.all.statuses });
  const non200 = load.all.count - (load.all.statuses["200"] ?? 0);
  if (non200) fail(verdict, `${non200} polls were not 200`);
  const st = await admin.stats(eventId);
  return { label: o.label, load, verdict, profile, extra: { "users in line": line.length, "still waiting at the end": st.waiting } };
}

async function pollSaturationRun(b: Bench): Promise<Run> {
  const prefix = b.prefix("polls");
  const server = await startServer("poll-saturation", { ...b.env, prefix });
  let eventId = 0;
  try {
    const admin = adminClient(server.url, b.env.adminToken);
    eventId = await lineEvent(admin, "bench poll saturation");
    return await pollSaturation(b, single(server), admin, eventId, { label: "poll-saturation", prefix });
  } finally {
    await server.stop();
    await dropKeys(b.redis, `${prefix}:*`);
    if (eventId) await dropEvent(b.db, eventId);
  }
}

export async function waitingRoom(b: Bench): Promise<ScenarioResult> {
  const runs = [await flowRun(b), await pollSaturationRun(b)];
  const failures = runs.flatMap((r) => (r.verdict?.ok ? [] : r.verdict!.failures.map((f) => `${r.label}: ${f}`)));
  const w = b.sizes.waiting;
  return {
    name: "waiting-room",
    title: `waiting-room — ${w.users} users enter at once, poll every ${w.pollMs} ms, issue when admitted; then poll saturation`,
    ok: !failures.length,
    failures,
    params: { users: w.users, stock: w.stock, runningCapacity: w.runningCapacity, admitPerSecond: w.runningCapacity, trafficRpm: 0, pollMs: w.pollMs, pollSaturationConnections: b.sizes.pollSaturation.connections },
    runs,
  };
}
