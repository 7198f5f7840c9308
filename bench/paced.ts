// Paced enter + issue (issue #25: p97.5 at ~1,200 req/s, where the redis path should be near idle):
// where the latency comes from. The real server (ROLE=all, its issuer on) under k6-style VUs (each a
// new user: enter, issue, think), optionally right after a closed-loop burst whose backlog the
// issuer drains during the paced window. With --cpu-prof the server writes a CPU profile, and this
// script lists its long tasks: stretches of at least --task-ms during which the event loop never
// went idle (every request that arrives meanwhile waits for them), with the functions they spent
// their time in.
//
//   bun run bench/paced.ts [--vus=600] [--think-ms=1000] [--duration=20] [--burst=0] [--cpu-prof] [--task-ms=5] [--env=K=V,K=V]
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dropKeys, openBench, SCHEMA } from "./lib/bench";
import { adminClient, dropEvent, verify } from "./lib/checks";
import { enterThenIssue, newOutcomes } from "./lib/flows";
import { hammer } from "./lib/load";
import { profileChildren, startServer } from "./lib/procs";
import { Users } from "./lib/users";
import { runVus } from "./lib/vus";
import { directEvent, vuIteration } from "./scenarios/issue-direct";

const opts = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split(/=(.*)/s).slice(0, 2) as [string, string]));
const num = (k: string, d: number) => (opts[k] === undefined ? d : Number(opts[k]));
const vus = num("vus", 600);
const thinkMs = num("think-ms", 1000);
const durationS = num("duration", 20);
const burstS = num("burst", 0);
const taskMs = num("task-ms", 5);
const extraEnv = Object.fromEntries((opts.env ?? "").split(",").filter(Boolean).map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string]));
const profDir = "cpu-prof" in opts ? mkdtempSync(join(tmpdir(), "paced-prof-")) : null;
if (profDir) profileChildren(profDir);

const b = await openBench(false, {});
const prefix = b.prefix("paced");
const server = await startServer("paced", { ...b.env, prefix }, extraEnv);
const admin = adminClient(server.url, b.env.adminToken);
const id = await directEvent(admin, "bench paced");
// the burst's promises are checked with the paced window's: one event, one set of rows
const burstOut = newOutcomes();
const statuses: Record<string, number> = {};
const addStatuses = (from: Record<string, number>) => Object.entries(from).forEach(([k, n]) => (statuses[k] = (statuses[k] ?? 0) + n));
try {
  if (burstS > 0) {
    const users = new Users(b.env.jwtSecret, `pb${id}`).prepare(60_000);
    const burst = await hammer({ url: server.url, connections: 500, durationS: burstS, steps: enterThenIssue(id, users, burstOut) });
    addStatuses(burst.all.statuses);
    console.log(`burst: ${burst.all.count} requests in ${burstS} s (${Math.round(burst.all.rps)}/s) just before the paced window`);
  }
  const users = new Users(b.env.jwtSecret, `pv${id}`).prepare(Math.ceil(vus * (durationS / (thinkMs / 1000) + 2)));
  const out = newOutcomes();
  const pending = async () => Number((await (await fetch(`${server.url}/admin/events/${id}`, { headers: { authorization: `Bearer ${b.env.adminToken}` } })).json()).pending ?? 0);
  const pendingAtStart = await pending();
  const load = await runVus({
    port: server.port,
    vus,
    durationS,
    thinkMs,
    iteration: vuIteration(id, users, out),
  });
  const f = (x: number) => `${x.toFixed(1)} ms`;
  const a = load.all;
  const promised = new Set([...burstOut.promised, ...out.promised]);
  const inFlight = new Set([...burstOut.inFlight, ...out.inFlight]);
  const verdict = await verify(b.db, admin, id, 10_000_000, promised, inFlight, { exactRedisView: true, statuses: (addStatuses(a.statuses), statuses) });
  console.log(`paced: ${vus} VUs, think ${thinkMs} ms, ${durationS} s; pending issuances at the start ${pendingAtStart}; env ${JSON.stringify(extraEnv)}`);
  console.log(`${Math.round(a.rps)} req/s, p50 ${f(a.p50)}, p95 ${f(a.p95)}, p97.5 ${f(a.p975)}, p99 ${f(a.p99)}, max ${f(a.max)}; statuses ${JSON.stringify(load.all.statuses)}; invariants ${verdict.ok ? "OK" : verdict.failures.join("; ")}`);
} finally {
  await server.stop();
  await dropKeys(b.redis, `${prefix}:*`);
  await dropEvent(b.db, id);
  b.redis.disconnect();
  await b.db.end();
}

if (profDir) {
  // Bun's profile holds a sample each ~1 ms while JavaScript runs and nothing while the loop waits:
  // a long task is a run of samples each at most --gap-ms after the previous one, at least taskMs long
  const gapMs = num("gap-ms", 2);
  const file = readdirSync(profDir).find((n) => n.endsWith(".cpuprofile"))!;
  type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; parent?: number; children?: number[] };
  const prof = JSON.parse(readFileSync(join(profDir, file), "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  for (const n of prof.nodes) for (const c of n.children ?? []) byId.get(c)!.parent = n.id;
  const name = (n: Node) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(node_modules\/)?/, "")}:${n.callFrame.lineNumber + 1}`;
  const tasks: { start: number; ms: number; self: Map<string, number>; roots: Map<string, number> }[] = [];
  let t = 0;
  let cur: (typeof tasks)[number] | null = null;
  prof.samples.forEach((s, i) => {
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    t += dt;
    if (cur && dt > gapMs) {
      if (cur.ms >= taskMs) tasks.push(cur);
      cur = null;
    }
    if (!cur) cur = { start: t, ms: 0, self: new Map(), roots: new Map() };
    else cur.ms += dt;
    const leaf = byId.get(s)!;
    cur.self.set(name(leaf), (cur.self.get(name(leaf)) ?? 0) + 1);
    // the outermost frame of the project's own code: what started this work
    let n: Node | undefined = leaf;
    let ours: Node | null = null;
    while (n) {
      if (/\/(src|modules)\//.test(n.callFrame.url)) ours = n;
      n = n.parent ? byId.get(n.parent) : undefined;
    }
    const root = ours ? name(ours) : "(outside the project's code)";
    cur.roots.set(root, (cur.roots.get(root) ?? 0) + 1);
  });
  if (cur && (cur as { ms: number }).ms >= taskMs) tasks.push(cur);
  const total = tasks.reduce((s, x) => s + x.ms, 0);
  console.log(`\nCPU profile ${join(profDir, file)}: ${prof.samples.length} samples; ${tasks.length} long tasks (≥ ${taskMs} ms without a gap over ${gapMs} ms), ${Math.round(total)} ms in all; the longest (samples ×n, ~1 ms each):`);
  for (const x of [...tasks].sort((a, b) => b.ms - a.ms).slice(0, 12)) {
    const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ×${v}`).join("; ");
    console.log(`- at ${(x.start / 1000).toFixed(2)} s, ${x.ms.toFixed(1)} ms — started by: ${top(x.roots)}\n    self: ${top(x.self)}`);
  }
  const agg = new Map<string, number>();
  for (const x of tasks) for (const [k, v] of x.roots) agg.set(k, (agg.get(k) ?? 0) + v);
  console.log(`\nlong-task samples (~1 ms each) by what started them:`);
  for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${v}  ${k}`);
}
process.exit(0);
