// The bot gate (issue #25) against the bare endpoint in the same run: a new user into a line on an
// open event, the same with a fresh proof on a gated one (every request verifies a proof and spends
// it with a SET NX), and bots turned away (no proof, a forged one). Proofs are made ahead with the
// server's own code at pow 1: verifying costs the same at every difficulty.
import { solveChallenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { Redis } from "ioredis";
import { randomBytes } from "node:crypto";
import { BotGate } from "../../modules/botgate/gate";
import type { Bench } from "../lib/bench";
import { adminClient, dropEvent } from "../lib/checks";
import type { Step } from "../lib/load";
import { startBare, startRedis, startServer } from "../lib/procs";
import type { Run, ScenarioResult } from "../lib/report";
import { Users } from "../lib/users";
import { bareRuns, costs, FLASH, measured } from "./flash";

export async function gate(outer: Bench): Promise<ScenarioResult> {
  // a Redis of its own, as the flash scenario has: INFO's commands and CPU are this load's alone
  const own = await startRedis("gate-redis");
  const b: Bench = { ...outer, redis: new Redis(own.url, { connectionName: "coupon-bench", maxRetriesPerRequest: 2 }), env: { ...outer.env, redisUrl: own.url } };
  try {
    return await gateRuns(b);
  } finally {
    b.redis.disconnect();
    await own.stop();
  }
}

async function gateRuns(b: Bench): Promise<ScenarioResult> {
  const bare = await startBare();
  let bareEnter: Run;
  try {
    bareEnter = (await bareRuns(b, bare, ["enter"]))[0]!;
  } finally {
    await bare.stop();
  }
  const bareRps = bareEnter.load!.all.rps;
  const secret = randomBytes(32).toString("base64url");
  const prefix = b.prefix("gate");
  const server = await startServer("gate", { ...b.env, prefix }, { BOT_GATE_SECRET: secret, QUEUE_WAITER_TIMEOUT_MS: "900000" });
  const admin = adminClient(server.url, b.env.adminToken);
  const pids = { server: server.pid };
  const ids: number[] = [];
  const runs: Run[] = [bareEnter];
  const failures: string[] = [];
  const ratio = (rps: number) => ({ "throughput / bare": Math.round((rps / bareRps) * 100) / 100 });
  const need = Math.ceil(bareRps * (b.sizes.direct.durationS + b.sizes.warmup.durationS) * 0.6) + 2000;
  try {
    const line = async (name: string, botGate: { pow: number } | null) => {
      const id = (await admin.createEvent({ name, stock: 1000, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1, botGate } as never)).id;
      ids.push(id);
      return id;
    };
    const run = async (label: string, id: number, users: Users, proof: ((user: string) => string | null) | null, expect: number, limit = Infinity) => {
      let sent = 0;
      const step: Step = {
        kind: "enter",
        method: "POST",
        path: `/api/events/${id}/enter`,
        auth: (ctx) => {
          const u = users.take();
          ctx.user = u.id;
          sent++;
          return u.auth;
        },
        headers: proof ? (ctx) => ({ "x-bot-proof": proof(ctx.user) ?? "" }) : undefined,
      };
      const m = await measured(b, server.url, pids, prefix, [step], { enough: () => sent >= limit });
      const other = m.load.all.count - (m.load.all.statuses[String(expect)] ?? 0);
      if (other) failures.push(`${label}: ${other} replies were not ${expect}`);
      runs.push({ label, load: m.load, profile: m.profile, extra: { ...ratio(m.load.all.rps), ...costs(m.load, m.profile, "server") } });
    };

    const open = await line("gate: open door", null);
    await run(FLASH.longLine, open, new Users(b.env.jwtSecret, `go${open}`).prepare(need), null, 202);

    const gated = await line("gate: gated", { pow: 1 });
    // one fresh proof per user, made ahead (the warm-up and the measured run both use them)
    const g = new BotGate(secret, null as never, prefix);
    const users = new Users(b.env.jwtSecret, `gg${gated}`);
    const proofs = new Map<string, string>();
    const t0 = performance.now();
    for (let i = 0; i < need; i++) {
      const id = `gg${gated}-${i}`;
      const challenge = await g.challenge(gated, id, 1);
      const solution = await solveChallenge({ challenge, deriveKey });
      proofs.set(id, Buffer.from(JSON.stringify({ challenge, solution })).toString("base64"));
    }
    console.log(`  ${need} proofs made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    users.prepare(need);
    await run("gated: new user with a proof into a line", gated, users, (u) => proofs.get(u) ?? null, 202, need - 1000);

    await run("gated: bot without a proof (403)", gated, new Users(b.env.jwtSecret, `gb${gated}`).prepare(need), null, 403);
    const sample = [...proofs.values()][0]!;
    await run("gated: bot with another user's proof (403)", gated, new Users(b.env.jwtSecret, `gf${gated}`).prepare(need), () => sample, 403);
  } finally {
    await server.stop();
    for (const id of ids) await dropEvent(b.db, id);
  }
  return {
    name: "gate",
    title: "gate — the bot gate at the door, against the bare endpoint in the same run",
    ok: !failures.length,
    failures,
    params: { connections: b.sizes.direct.connections, durationS: b.sizes.direct.durationS, pow: 1 },
    runs,
  };
}
