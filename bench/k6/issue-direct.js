// issue-direct: every iteration is a new user who enters and issues at once (stage 1 of the original).
//   k6 run -e ADMIN_TOKEN=… -e AUTH_JWT_SECRET=… bench/k6/issue-direct.js
// Options (-e): BASE_URL, VUS (1000), DURATION (30s), STOCK (20000), SLEEP seconds between iterations
// (0 = hammer; 1 = paced like the original's VUs), BASELINE_SUMMARY, MAX_RATIO (4), SERVER_P95_MS /
// SERVER_P99_MS (unset), METRICS_TOKEN (when the server sets one).
// Latency thresholds are relative to the bare app measured the same way just before: 1,000 VUs on the
// same cores queue mostly in the load generator and the kernel, so an absolute "p95 < 50 ms" fails for
// the bare app too. Run bench/k6/baseline.js with the same VUS/DURATION/SLEEP and --summary-export, and
// pass that file as BASELINE_SUMMARY (an absolute path): the run fails when its p95 exceeds MAX_RATIO ×
// the bare p95. The server's own per-route p95/p99 (its request-duration histogram, snapshotted in setup
// and teardown) are printed, and thresholded when SERVER_P95_MS / SERVER_P99_MS are given.
// The end check holds whether or not demand sells the stock out: no unit lost or sold twice, everything
// persisted, and issued == stock when it did sell out.
import { check, sleep } from "k6";
import exec from "k6/execution";
import { Trend } from "k6/metrics";
import { createEvent, endCheck, issued201, quantileMs, requireSecrets, routeHistograms, userId, userRequest, userToken, waitDrained } from "./lib.js";

const STOCK = Number(__ENV.STOCK || 20000);
const SLEEP = Number(__ENV.SLEEP || 0);
const ROUTES = { enter: "/api/events/:id/enter", issue: "/api/events/:id/issue" };
const serverMs = new Trend("server_ms", true);
const bareP95 = __ENV.BASELINE_SUMMARY ? JSON.parse(open(__ENV.BASELINE_SUMMARY)).metrics.http_req_duration["p(95)"] : undefined;
const MAX_RATIO = Number(__ENV.MAX_RATIO || 4);

const thresholds = {
  "http_req_failed{scenario:issue_direct}": ["rate<0.01"],
  checks: ["rate==1"],
  issued_201: [`count<=${STOCK}`],
  end_check_failed: ["count<1"],
};
if (bareP95 !== undefined) thresholds["http_req_duration{scenario:issue_direct}"] = [`p(95)<${(bareP95 * MAX_RATIO).toFixed(1)}`];
for (const [q, limit] of [["p95", __ENV.SERVER_P95_MS], ["p99", __ENV.SERVER_P99_MS]])
  if (limit) for (const route of Object.keys(ROUTES)) thresholds[`server_ms{route:${route},q:${q}}`] = [`max<${Number(limit)}`];

export const options = {
  scenarios: {
    issue_direct: { executor: "constant-vus", vus: Number(__ENV.VUS || 1000), duration: __ENV.DURATION || "30s" },
  },
  thresholds,
  setupTimeout: "60s",
  teardownTimeout: "10m",
};

export function setup() {
  requireSecrets();
  if (bareP95 === undefined) console.warn("no latency threshold: pass -e BASELINE_SUMMARY=<baseline.js --summary-export file> to fail on p95 > MAX_RATIO × the bare app's");
  else console.log(`latency threshold: p95 < ${MAX_RATIO} × the bare app's ${bareP95.toFixed(1)} ms`);
  const ev = createEvent({ name: "k6 issue-direct", stock: STOCK, trafficRpm: 1000000000, runningCapacity: 10000000 });
  return { id: ev.id, runTag: `${Date.now().toString(36)}`, timings: routeHistograms("POST", Object.values(ROUTES)) };
}

export default function (data) {
  const token = userToken(userId(data.runTag, exec.vu.idInTest, exec.vu.iterationInScenario));
  const enter = userRequest("POST", `/api/events/${data.id}/enter`, token, "enter", [200, 410]);
  check(enter, { "enter: admitted or sold out": (r) => r.status === 200 || r.status === 410 });
  if (enter.status === 200) {
    const issue = userRequest("POST", `/api/events/${data.id}/issue`, token, "issue", [201, 410]);
    check(issue, { "issue: 201 or sold out": (r) => r.status === 201 || r.status === 410 });
    if (issue.status === 201) issued201.add(1);
  }
  if (SLEEP > 0) sleep(SLEEP);
}

export function teardown(data) {
  // the run's requests only (the event is new, but the histogram is the process's since it started)
  const after = routeHistograms("POST", Object.values(ROUTES));
  for (const [name, route] of Object.entries(ROUTES))
    for (const [q, v] of [["p95", 0.95], ["p99", 0.99]]) {
      const ms = quantileMs(data.timings[route], after[route], v);
      if (ms !== null) serverMs.add(ms, { route: name, q });
      console.log(`server-side ${name} ${q}: ${ms === null ? "no requests" : `${ms.toFixed(2)} ms`}`);
    }
  endCheck(waitDrained(data.id), STOCK, false);
}
