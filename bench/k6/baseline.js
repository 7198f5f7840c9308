// baseline: the ceiling. The same request mix as issue-direct against the bare Elysia app
// (bun run bench/servers/bare.ts with PORT=…), which has no auth, Redis or MySQL behind it.
//   PORT=3001 bun run bench/servers/bare.ts &  k6 run -e BASE_URL=http://127.0.0.1:3001 bench/k6/baseline.js
// Options (-e): BASE_URL, VUS (1000), DURATION (30s), SLEEP (0; as issue-direct's), P95_MS (unset: no
// latency threshold). Export its summary for issue-direct's relative threshold:
//   k6 run --summary-export=/tmp/bare.json -e BASE_URL=http://127.0.0.1:3001 bench/k6/baseline.js
// Its percentiles are the ceiling the load generator itself imposes on this machine (1,000 closed-loop
// VUs queue in k6 and the kernel, not in the app): read issue-direct's client-side numbers against them.
import { check, sleep } from "k6";
import http from "k6/http";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:3001").replace(/\/$/, "");
const SLEEP = Number(__ENV.SLEEP || 0);
// the bare app ignores the token; one of the real shape keeps the request size the same
const HEADERS = { Authorization: `Bearer ${"x".repeat(36)}.${"y".repeat(40)}.${"z".repeat(43)}` };

export const options = {
  scenarios: {
    baseline: { executor: "constant-vus", vus: Number(__ENV.VUS || 1000), duration: __ENV.DURATION || "30s" },
  },
  thresholds: Object.assign(
    { http_req_failed: ["rate<0.001"], checks: ["rate==1"] },
    __ENV.P95_MS ? { http_req_duration: [`p(95)<${Number(__ENV.P95_MS)}`] } : {},
  ),
};

export default function () {
  const enter = http.post(`${BASE}/api/events/1/enter`, null, { headers: HEADERS, tags: { name: "enter" } });
  const issue = http.post(`${BASE}/api/events/1/issue`, null, { headers: HEADERS, tags: { name: "issue" } });
  check(enter, { "enter 200": (r) => r.status === 200 });
  check(issue, { "issue 201": (r) => r.status === 201 });
  if (SLEEP > 0) sleep(SLEEP);
}
