// The ceiling: the same request mix as issue-direct (enter then issue, a bearer token each) against
// a bare Elysia app in its own process, same connections, same load generator.
import type { Bench } from "../lib/bench";
import { hammer, type Step } from "../lib/load";
import { startProbe } from "../lib/probes";
import { startBare } from "../lib/procs";
import type { ScenarioResult } from "../lib/report";
import { Users } from "../lib/users";

export async function baseline(b: Bench): Promise<ScenarioResult> {
  const { connections, durationS } = b.sizes.baseline;
  const bare = await startBare();
  try {
    // the bare app ignores identity; a cycled pool keeps the headers the same size as the real run's
    const users = new Users(b.env.jwtSecret, "bare").prepare(10_000);
    const pool = Array.from({ length: 10_000 }, () => users.take());
    let i = 0;
    const steps: Step[] = [
      { kind: "enter", method: "POST", path: "/api/events/1/enter", auth: () => pool[i++ % pool.length]!.auth },
      { kind: "issue", method: "POST", path: "/api/events/1/issue", auth: () => pool[i++ % pool.length]!.auth },
    ];
    await hammer({ url: bare.url, ...b.sizes.warmup, steps });
    const probe = await startProbe(b.redis, b.db, { bare: bare.pid }, b.env.prefix);
    const load = await hammer({ url: bare.url, connections, durationS, steps });
    const profile = await probe.stop();
    b.ceilingRps = load.all.rps;
    const failures = load.errors ? [`${load.errors} transport errors`] : [];
    return { name: "baseline", title: "baseline — bare Elysia endpoint (the ceiling)", ok: !failures.length, failures, params: { connections, durationS }, runs: [{ label: "bare", load, profile }] };
  } finally {
    await bare.stop();
  }
}
