// drain: sell an event out, then time the issuer to pending = 0.
//   k6 run -e ADMIN_TOKEN=… -e AUTH_JWT_SECRET=… bench/k6/drain.js
// Two modes:
// - live (default): the server runs its issuer; a watcher VU polls the event's stats during the sale
//   and measures the lag from the moment the stock is gone (remaining = 0) to pending = 0
//   (drain_lag_ms, threshold < MAX_LAG_MS; drain_watch_read_ms is its error bar).
// - BACKLOG=1: start the server with ISSUER=off; when the script logs "backlog ready", start an
//   issuer-only process (ROLE=issuer bun run src/main.ts, same REDIS_URL/REDIS_KEY_PREFIX/
//   DATABASE_URL); teardown measures its rate from the first persisted row to pending = 0
//   (drain_rows_per_s, threshold ≥ MIN_ROWS_PER_S, default 20000).
// Options (-e): BASE_URL, STOCK (50000), VUS (1000), WAIT_ISSUER_S (300), MAX_LAG_MS (5000), WATCH_MS (20).
import { check, sleep } from "k6";
import exec from "k6/execution";
import { Trend } from "k6/metrics";
import { createEvent, endCheck, eventStats, issued201, requireSecrets, userId, userRequest, userToken, waitDrained } from "./lib.js";

const STOCK = Number(__ENV.STOCK || 50000);
const BACKLOG = __ENV.BACKLOG === "1";
const lag = new Trend("drain_lag_ms", true);
const rate = new Trend("drain_rows_per_s");
const readMs = new Trend("drain_watch_read_ms", true);

const scenarios = {
  // a few more users than stock, shared by all VUs: the sale ends sold out
  sale: { executor: "shared-iterations", exec: "sale", vus: Number(__ENV.VUS || 1000), iterations: Math.ceil(STOCK * 1.05), maxDuration: "10m" },
};
const thresholds = { issued_201: [`count<=${STOCK}`], end_check_failed: ["count<1"] };
if (BACKLOG) {
  thresholds.drain_rows_per_s = [`min>=${Number(__ENV.MIN_ROWS_PER_S || 20000)}`];
} else {
  // the clock runs beside the sale: teardown starts only after every iteration, too late to see it
  scenarios.watch = { executor: "per-vu-iterations", exec: "watch", vus: 1, iterations: 1, maxDuration: "11m" };
  thresholds.drain_lag_ms = [`max<${Number(__ENV.MAX_LAG_MS || 5000)}`];
}

export const options = { scenarios, thresholds, setupTimeout: "60s", teardownTimeout: "20m" };

export function setup() {
  requireSecrets();
  const ev = createEvent({ name: `k6 drain ${BACKLOG ? "backlog" : "live"}`, stock: STOCK, trafficRpm: 1000000000, runningCapacity: 10000000 });
  return { id: ev.id, runTag: `${Date.now().toString(36)}` };
}

export function sale(data) {
  const token = userToken(userId(data.runTag, exec.vu.idInTest, exec.vu.iterationInScenario));
  const enter = userRequest("POST", `/api/events/${data.id}/enter`, token, "enter", [200, 410]);
  if (enter.status !== 200) return;
  const issue = userRequest("POST", `/api/events/${data.id}/issue`, token, "issue", [201, 410]);
  check(issue, { "issue: 201 or sold out": (r) => r.status === 201 || r.status === 410 });
  if (issue.status === 201) issued201.add(1);
}

/**
 * Live mode: from the stock running out to the last issuance persisted, timed while the sale runs
 * (teardown starts only after every iteration: too late). Both ends are the moments the watcher learnt
 * of them, so each is late by up to one stats read; drain_watch_read_ms records those reads (under a
 * saturating sale an admin read can take seconds) so the error bar is in the report.
 */
export function watch(data) {
  const every = Number(__ENV.WATCH_MS || 20) / 1000;
  let soldOutAt = 0;
  for (;;) {
    const t0 = Date.now();
    const st = eventStats(data.id);
    const now = Date.now();
    readMs.add(now - t0);
    if (!soldOutAt && st.remaining === 0) soldOutAt = now;
    if (soldOutAt && st.pending === 0) {
      lag.add(now - soldOutAt);
      return;
    }
    sleep(every);
  }
}

export function teardown(data) {
  let st = eventStats(data.id);
  if (BACKLOG) {
    console.log(`backlog ready: ${st.pending} issuances pending; start the issuer now (ROLE=issuer bun run src/main.ts)`);
    const wait = Date.now() + Number(__ENV.WAIT_ISSUER_S || 300) * 1000;
    while (st.persisted === 0 && Date.now() < wait) {
      sleep(0.02);
      st = eventStats(data.id);
    }
    const first = { t: Date.now(), persisted: st.persisted };
    st = waitDrained(data.id, 600, 0.02);
    const seconds = Math.max(0.001, (Date.now() - first.t) / 1000);
    rate.add((st.persisted - first.persisted) / seconds);
  } else {
    st = waitDrained(data.id, 600, 0.02);
  }
  endCheck(st, STOCK);
}
