// Stage 1 of the original: distinct users doing enter + issue, for the redis strategy and the
// db-lock baseline in the same run, two ways:
// - closed loop (the "hammering" of the issue): 1,000 autocannon connections, each sending its next
//   request as soon as the last reply arrives; each system runs at its own saturation point.
// - paced: 1,000 k6-style virtual users, each iteration a new user, with a think time between
//   iterations; both systems get the same offered load, as the original's k6 run did.
// Stock is far above demand, so every request does the full work (no cheap sold-out answers).
import { dropKeys, SCHEMA, type Bench } from "../lib/bench";
import { adminClient, dropEvent, verify, type Admin } from "../lib/checks";
import { enterThenIssue, newOutcomes, type Outcomes } from "../lib/flows";
import type { Conn } from "../lib/http1";
import { hammer } from "../lib/load";
import { startProbe } from "../lib/probes";
import { single, startServer, type Deployment } from "../lib/procs";
import type { Run, ScenarioResult } from "../lib/report";
import type { Recorder } from "../lib/stats";
import { Users } from "../lib/users";
import { runVus } from "../lib/vus";

const STOCK = 10_000_000;

/** One k6-style iteration: a new user enters and, if admitted, issues. */
export function vuIteration(eventId: number, users: Users, out: Outcomes) {
  return async (conn: Conn, rec: Recorder) => {
    const u = users.take();
    let r = await conn.request("POST", `/api/events/${eventId}/enter`, u.auth);
    rec.add("enter", r.status, r.ms);
    if (r.status !== 200) return;
    out.inFlight.add(u.id);
    r = await conn.request("POST", `/api/events/${eventId}/issue`, u.auth);
    rec.add("issue", r.status, r.ms);
    out.inFlight.delete(u.id);
    if (r.status === 201) out.promised.add(u.id);
  };
}

/**
 * The closed loop on `eventId` through `d`: each pass of a connection is a new user (enter, issue),
 * after a warm-up (JIT, pools, sockets) whose issuances are verified with the rest.
 * `exactRedisView`: see `verify` (false for db-lock).
 */
export async function closedLoop(b: Bench, d: Deployment, admin: Admin, eventId: number, o: { label: string; prefix: string; userTag: string; exactRedisView: boolean }): Promise<Run> {
  const { connections, durationS } = b.sizes.direct;
  // users sized from the ceiling so minting stays out of the window
  const expected = ((b.ceilingRps || 30_000) / 2) * (durationS + b.sizes.warmup.durationS) * 1.1 + connections;
  const users = new Users(b.env.jwtSecret, `${o.userTag}${eventId}`).prepare(Math.ceil(expected));
  const out = newOutcomes();
  const steps = enterThenIssue(eventId, users, out);
  await hammer({ url: d.url, ...b.sizes.warmup, steps });
  const probe = await startProbe(b.redis, b.db, d.pids, o.prefix, SCHEMA);
  const load = await hammer({ url: d.url, connections, durationS, steps });
  const profile = await probe.stop();
  const verdict = await verify(b.db, admin, eventId, STOCK, out.promised, out.inFlight, { exactRedisView: o.exactRedisView, statuses: load.all.statuses });
  return { label: o.label, load, verdict, profile, extra: { users: users.used, mintedDuringRun: users.mintedLate } };
}

/** An event every request does the full work on: stock far above demand, admission never waits. */
export const directEvent = async (admin: Admin, name: string) => (await admin.createEvent({ name, stock: STOCK, trafficRpm: 1_000_000_000, runningCapacity: 10_000_000 })).id;

async function strategyRuns(b: Bench, strategy: "redis" | "db-lock"): Promise<Run[]> {
  const { durationS, vus, thinkMs } = b.sizes.direct;
  const prefix = b.prefix(`direct-${strategy}`);
  const server = await startServer(`issue-direct-${strategy}`, { ...b.env, prefix }, { ISSUE_STRATEGY: strategy });
  const ids: number[] = [];
  try {
    const admin = adminClient(server.url, b.env.adminToken);
    const newEvent = async (kind: string) => {
      const id = await directEvent(admin, `bench issue-direct ${strategy} ${kind}`);
      ids.push(id);
      return id;
    };

    const closedId = await newEvent("closed");
    const closed = await closedLoop(b, single(server), admin, closedId, { label: strategy, prefix, userTag: strategy === "redis" ? "r" : "l", exactRedisView: strategy === "redis" });

    // paced: at most one iteration per VU per think time
    const pacedId = await newEvent("paced");
    const pacedUsers = new Users(b.env.jwtSecret, `v${pacedId}`).prepare(Math.ceil(vus * (durationS / (thinkMs / 1000) + 2)));
    const pacedOut = newOutcomes();
    const probe = await startProbe(b.redis, b.db, { server: server.pid }, prefix, SCHEMA);
    const paced = await runVus({ port: server.port, vus, durationS, thinkMs, iteration: vuIteration(pacedId, pacedUsers, pacedOut) });
    const profile = await probe.stop();
    const pacedVerdict = await verify(b.db, admin, pacedId, STOCK, pacedOut.promised, pacedOut.inFlight, { exactRedisView: strategy === "redis", statuses: paced.all.statuses });
    return [closed, { label: `${strategy}-paced`, load: paced, verdict: pacedVerdict, profile, extra: { vus, thinkMs, iterations: pacedUsers.used } }];
  } finally {
    await server.stop();
    await dropKeys(b.redis, `${prefix}:*`);
    for (const id of ids) await dropEvent(b.db, id);
  }
}

export async function issueDirect(b: Bench): Promise<ScenarioResult> {
  const runs: Run[] = [];
  for (const strategy of ["redis", "db-lock"] as const) runs.push(...(await strategyRuns(b, strategy)));
  const failures = runs.flatMap((r) => (r.verdict?.ok ? [] : r.verdict!.failures.map((f) => `${r.label}: ${f}`)));
  const { connections, durationS, vus, thinkMs } = b.sizes.direct;
  return {
    name: "issue-direct",
    title: "issue-direct — enter + issue, distinct users, redis vs db-lock (closed loop, then paced VUs)",
    ok: !failures.length,
    failures,
    params: { connections, durationS, vus, thinkMs, stock: STOCK, warmupS: b.sizes.warmup.durationS },
    runs,
  };
}
