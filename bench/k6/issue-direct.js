// issue-direct: every iteration is a new user who enters and issues at once (stage 1 of the original).
//   k6 run -e ADMIN_TOKEN=… -e AUTH_JWT_SECRET=… bench/k6/issue-direct.js
// Options (-e): BASE_URL, VUS (1000), DURATION (30s), STOCK (20000), SLEEP seconds between iterations
// (0 = hammer; 1 = paced like the original's VUs), SERVER_P95_MS / SERVER_P99_MS (defaults 50 / 100),
// METRICS_TOKEN (when the server sets one).
// Latency thresholds are on the server's own per-route timings (its request-duration histogram,
// snapshotted in setup and teardown): 1,000 closed-loop VUs on the same cores queue mostly in the load
// generator and the kernel, which no server can get under 50 ms (the bare app in bench/k6/baseline.js,
// measured the same way, does not). Client-side percentiles are still printed for comparison with
// baseline.js. Raise the SERVER_* limits for ISSUE_STRATEGY=db-lock, which is what the comparison is about.
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
const P95 = Number(__ENV.SERVER_P95_MS || 50);
const P99 = Number(__ENV.SERVER_P99_MS || 100);

export const options = {
  scenarios: {
    issue_direct: { executor: "constant-vus", vus: Number(__ENV.VUS || 1000), duration: __ENV.DURATION || "30s" },
  },
  thresholds: {
    "server_ms{route:issue,q:p95}": [`max<${P95}`],
    "server_ms{route:issue,q:p99}": [`max<${P99}`],
    "server_ms{route:enter,q:p95}": [`max<${P95}`],
    "server_ms{route:enter,q:p99}": [`max<${P99}`],
    "http_req_failed{scenario:issue_direct}": ["rate<0.01"],
    issued_201: [`count<=${STOCK}`],
    end_check_failed: ["count<1"],
  },
  setupTimeout: "60s",
  teardownTimeout: "10m",
};

export function setup() {
  requireSecrets();
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
