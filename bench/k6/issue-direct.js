// issue-direct: every iteration is a new user who enters and issues at once (stage 1 of the original).
//   k6 run -e ADMIN_TOKEN=… -e AUTH_JWT_SECRET=… bench/k6/issue-direct.js
// Options (-e): BASE_URL, VUS (1000), DURATION (30s), STOCK (20000: below demand, so the run sells
// out and the end check issued == stock is meaningful), SLEEP seconds between iterations (0 = hammer;
// 1 = paced like the original's VUs), P95_MS / P99_MS thresholds for issue (defaults 50 / 50; raise
// them when the server runs ISSUE_STRATEGY=db-lock, which is what the comparison is about).
import { check, sleep } from "k6";
import exec from "k6/execution";
import { createEvent, endCheck, issued201, requireSecrets, userId, userRequest, userToken, waitDrained } from "./lib.js";

const STOCK = Number(__ENV.STOCK || 20000);
const SLEEP = Number(__ENV.SLEEP || 0);

export const options = {
  scenarios: {
    issue_direct: { executor: "constant-vus", vus: Number(__ENV.VUS || 1000), duration: __ENV.DURATION || "30s" },
  },
  thresholds: {
    "http_req_duration{name:issue}": [`p(95)<${Number(__ENV.P95_MS || 50)}`, `p(99)<${Number(__ENV.P99_MS || 50)}`],
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
  return { id: ev.id, runTag: `${Date.now().toString(36)}` };
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
  endCheck(waitDrained(data.id), STOCK);
}
