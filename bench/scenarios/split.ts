// What splitting the roles costs (issue 4): the same load through the router of
// - all-in-one: one ROLE=all process, every module in process;
// - split: the README's four roles as separate processes (queue, coupon, two issuers, a router with
//   QUEUE_URL / COUPON_URL), so enter takes a router → queue hop and issue / poll are forwarded.
// Loads: issue-direct's closed loop (distinct users, enter + issue) and the waiting room's poll
// saturation. Each topology runs with its own key prefix, one after the other, in the same run.
import { dropKeys, type Bench } from "../lib/bench";
import { adminClient, dropEvent } from "../lib/checks";
import { single, startServer, startSplit, type Deployment } from "../lib/procs";
import type { Run, ScenarioResult } from "../lib/report";
import { closedLoop, directEvent } from "./issue-direct";
import { lineEvent, pollSaturation } from "./waiting-room";

const TOPOLOGIES = ["all-in-one", "split"] as const;
type Topology = (typeof TOPOLOGIES)[number];

async function topologyRuns(b: Bench, topology: Topology): Promise<Run[]> {
  const prefix = b.prefix(`split-${topology}`);
  const env = { ...b.env, prefix };
  const d: Deployment = topology === "split" ? await startSplit("split", env) : single(await startServer("split-all-in-one", env));
  const ids: number[] = [];
  try {
    // admin calls go through the router too (forwarded to the coupon process when split)
    const admin = adminClient(d.url, b.env.adminToken);
    const directId = await directEvent(admin, `bench split ${topology} enter+issue`);
    ids.push(directId);
    const direct = await closedLoop(b, d, admin, directId, { label: topology, prefix, userTag: topology === "split" ? "s" : "a", exactRedisView: true });
    const lineId = await lineEvent(admin, `bench split ${topology} polls`);
    ids.push(lineId);
    const polls = await pollSaturation(b, d, admin, lineId, { label: `${topology}-poll`, prefix });
    return [direct, polls];
  } finally {
    await d.stop();
    await dropKeys(b.redis, `${prefix}:*`);
    for (const id of ids) await dropEvent(b.db, id);
  }
}

export async function split(b: Bench): Promise<ScenarioResult> {
  const runs: Run[] = [];
  for (const t of TOPOLOGIES) runs.push(...(await topologyRuns(b, t)));
  const failures = runs.flatMap((r) => (r.verdict?.ok ? [] : r.verdict!.failures.map((f) => `${r.label}: ${f}`)));
  const { connections, durationS } = b.sizes.direct;
  return {
    name: "split",
    title: "split — the same load through the router: ROLE=all vs router, queue, coupon and two issuers as separate processes",
    ok: !failures.length,
    failures,
    params: {
      connections,
      durationS,
      warmupS: b.sizes.warmup.durationS,
      pollConnections: b.sizes.pollSaturation.connections,
      pollDurationS: b.sizes.pollSaturation.durationS,
      split: "ROLE=queue, ROLE=coupon, 2× ROLE=issuer, ROLE=router with QUEUE_URL/COUPON_URL",
    },
    runs,
  };
}
