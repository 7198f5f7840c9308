// `bun run bench [--quick] [--only=baseline,issue-direct,waiting-room,drain,split,flash,draw] [--connections=N] …`
// Runs the scenarios in order, prints a table per scenario, and writes bench/results/<date>.md (the
// report with the ratios) and <date>.json (everything measured; git-ignored). A run of some scenarios
// (--only) writes <date>-<names>.md instead, so it never replaces the report of a whole run.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { dropKeys, openBench, type Bench } from "./lib/bench";
import { killAll, profileChildren } from "./lib/procs";
import { printScenario, type ScenarioResult } from "./lib/report";
import { buildReport, targets } from "./lib/summary";
import { baseline } from "./scenarios/baseline";
import { drain } from "./scenarios/drain";
import { draw } from "./scenarios/draw";
import { flash } from "./scenarios/flash";
import { gate } from "./scenarios/gate";
import { issueDirect } from "./scenarios/issue-direct";
import { split } from "./scenarios/split";
import { waitingRoom } from "./scenarios/waiting-room";

const SCENARIOS: Record<string, (b: Bench) => Promise<ScenarioResult>> = {
  baseline,
  "issue-direct": issueDirect,
  "waiting-room": waitingRoom,
  drain,
  split,
  flash,
  draw,
  gate,
};

const OPTIONS = ["quick", "only", "cpu-prof", "connections", "duration", "vus", "think-ms", "users", "waiting-stock", "capacity", "poll-ms", "live-stock", "backlog", "issuer-batch", "line", "rush-users", "waves", "rush-stock", "draw-users", "draw-lead"];
const options: Record<string, string> = {};
for (const a of Bun.argv.slice(2)) {
  const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
  if (!m || !OPTIONS.includes(m[1]!)) {
    console.error(`unknown argument "${a}"; options: ${OPTIONS.map((o) => `--${o}`).join(" ")} (see bench/README.md)`);
    process.exit(2);
  }
  options[m[1]!] = m[2] ?? "true";
}
const quick = options.quick === "true";
const only = options.only ? options.only.split(",") : Object.keys(SCENARIOS);
for (const name of only)
  if (!SCENARIOS[name]) {
    console.error(`unknown scenario "${name}"; known: ${Object.keys(SCENARIOS).join(", ")}`);
    process.exit(2);
  }

const b = await openBench(quick, options);
// profiles are big and per machine: they go to the temp dir, not into the repository
const profileDir = join(tmpdir(), `coupon-bench-profiles-${b.runId}`);
if (options["cpu-prof"]) profileChildren(profileDir);
const cleanup = async () => {
  killAll();
  const n = await dropKeys(b.redis, b.keyPattern).catch(() => 0);
  b.redis.disconnect();
  await b.db.end().catch(() => {});
  return n;
};
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, async () => {
    console.error(`\n${sig}: stopping servers and dropping this run's Redis keys`);
    await cleanup();
    process.exit(130);
  });

const machine = {
  cores: navigator.hardwareConcurrency,
  cpu: cpus()[0]?.model ?? "unknown",
  memGiB: Math.round(totalmem() / 2 ** 30),
  bun: Bun.version,
  redis: /redis_version:(\S+)/.exec(await b.redis.info("server"))?.[1] ?? "?",
  mysql: (((await b.db.query("SELECT VERSION() AS v")) as any)[0][0].v as string) ?? "?",
};
console.log(`bench ${b.runId}: ${quick ? "QUICK" : "full"} run of ${only.join(", ")} on ${machine.cores} cores (${machine.cpu}); load generator on the same machine`);

const results: ScenarioResult[] = [];
const started = new Date();
const dir = join(import.meta.dir, "results");
mkdirSync(dir, { recursive: true });
const day = join(dir, `${started.toISOString().slice(0, 10)}${quick ? "-quick" : ""}`);
const partial = Object.keys(SCENARIOS).some((name) => !only.includes(name));
const base = partial ? `${day}-${only.join("+")}` : day;
try {
  for (const name of only) {
    const t0 = Date.now();
    let r: ScenarioResult;
    try {
      r = await SCENARIOS[name]!(b);
    } catch (e) {
      killAll();
      r = { name, title: name, ok: false, failures: [(e as Error).message], params: {}, runs: [], error: (e as Error).stack ?? String(e) };
    }
    printScenario(r);
    // each scenario's own JSON result, as soon as it is known (git-ignored like the run's): the latest
    // measurement of that scenario today, whether from a whole run or an --only one
    writeFileSync(`${day}.${name}.json`, JSON.stringify(r, null, 2));
    console.log(`(${name} took ${((Date.now() - t0) / 1000).toFixed(1)} s; JSON: ${day}.${name}.json)`);
    results.push(r);
  }
} finally {
  const dropped = await cleanup();
  console.log(`\ncleanup: no servers left, ${dropped} Redis keys of this run dropped`);
}

// a partial run reports only the targets it measured
const tg = targets(results).filter((t) => !partial || t.value !== null);
console.log("\n=== targets");
for (const t of tg) console.log(`${t.met === null ? "n/a " : t.met ? "MET " : "MISS"}  ${t.name}: ${t.measured} (target ${t.target})`);

writeFileSync(`${base}.json`, JSON.stringify({ runId: b.runId, started, quick, machine, sizes: b.sizes, targets: tg, results }, null, 2));
writeFileSync(`${base}.md`, buildReport({ started, quick, only: partial ? only : null, machine, sizes: b.sizes, results, targets: tg }));
console.log(`\nreport: ${base}.md (details: ${base}.json)`);
if (options["cpu-prof"]) console.log(`CPU profiles of the servers (.cpuprofile for DevTools, .md digests): ${profileDir}`);
const failed = results.filter((r) => !r.ok);
if (failed.length) console.log(`FAILED: ${failed.map((r) => `${r.name} (${r.failures.join("; ")})`).join(", ")}`);
process.exit(failed.length ? 1 : 0);
