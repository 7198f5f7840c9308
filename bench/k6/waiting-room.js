// waiting-room: USERS users enter at once (trafficRpm 0: all of them queue), poll as told (every
// POLL_MS, or the reply's pollAfterMs when the server asks for longer), and issue once admitted;
// demand exceeds stock, so the line must end in sold_out.
//   k6 run -e ADMIN_TOKEN=… -e AUTH_JWT_SECRET=… bench/k6/waiting-room.js
// Options (-e): BASE_URL, USERS (4500), STOCK (3000), CAPACITY (running slots and admissions per
// second, 1000), POLL_MS (300), METRICS_TOKEN (when the server sets one), and latency thresholds, each
// applied only when given: MAX_MS and P95_MS (any request, client-side), CONNECT_P99_MS (the connect
// storm: every user connects at once, and a connect that needed a SYN retransmit takes ≥ 1 s: 1000 is
// the natural limit), SERVER_P95_MS / SERVER_P99_MS (the server's own per-route timings, always printed).
// None is on by default: 4,500 VUs need the load generator's share of the cores, and on a machine it
// shares with the server what they measure is mostly the generator (bench/results/*-k6.md).
import { check, sleep } from "k6";
import exec from "k6/execution";
import { Counter, Trend } from "k6/metrics";
import { createEvent, endCheck, issued201, quantileMs, requireSecrets, routeHistograms, userId, userRequest, userToken, waitDrained } from "./lib.js";

const USERS = Number(__ENV.USERS || 4500);
const STOCK = Number(__ENV.STOCK || 3000);
const POLL_S = Number(__ENV.POLL_MS || 300) / 1000;
const polls = new Counter("queue_polls");
// a poll that fails (429, 5xx, a broken connection) is retried this many times before the user gives up
const POLL_RETRIES = 5;

const ROUTES = { enter: ["POST", "/api/events/:id/enter"], poll: ["GET", "/api/events/:id/queue"], issue: ["POST", "/api/events/:id/issue"] };
const serverMs = new Trend("server_ms", true);

const thresholds = {
  "http_req_failed{scenario:waiting_room}": ["rate<0.01"],
  checks: ["rate>0.99"],
  issued_201: [`count<=${STOCK}`],
  end_check_failed: ["count<1"],
};
const duration = [];
if (__ENV.MAX_MS) duration.push(`max<${Number(__ENV.MAX_MS)}`);
if (__ENV.P95_MS) duration.push(`p(95)<${Number(__ENV.P95_MS)}`);
if (duration.length) thresholds["http_req_duration{scenario:waiting_room}"] = duration;
// TCP connect time of the users' connections (0 for a reused keep-alive one)
if (__ENV.CONNECT_P99_MS) thresholds["http_req_connecting{scenario:waiting_room}"] = [`p(99)<${Number(__ENV.CONNECT_P99_MS)}`];
for (const [q, limit] of [["p95", __ENV.SERVER_P95_MS], ["p99", __ENV.SERVER_P99_MS]])
  if (limit) for (const route of Object.keys(ROUTES)) thresholds[`server_ms{route:${route},q:${q}}`] = [`max<${Number(limit)}`];

export const options = {
  scenarios: {
    // one iteration per VU: each VU is one user from entering to leaving with or without a coupon
    waiting_room: { executor: "per-vu-iterations", vus: USERS, iterations: 1, maxDuration: "10m" },
  },
  thresholds,
  setupTimeout: "60s",
  teardownTimeout: "10m",
};

/** The server's request-duration histograms of this script's routes. */
function timings() {
  const out = {};
  for (const [name, [method, route]] of Object.entries(ROUTES)) out[name] = routeHistograms(method, [route])[route];
  return out;
}

export function setup() {
  requireSecrets();
  const capacity = Number(__ENV.CAPACITY || 1000);
  const ev = createEvent({ name: "k6 waiting room", stock: STOCK, trafficRpm: 0, runningCapacity: capacity, admitPerSecond: capacity });
  return { id: ev.id, runTag: `${Date.now().toString(36)}`, timings: timings() };
}

const DONE = ["admitted", "sold_out", "closed"];

export default function (data) {
  const token = userToken(userId(data.runTag, exec.vu.idInTest, 0), 3600);
  const enter = userRequest("POST", `/api/events/${data.id}/enter`, token, "enter", [200, 202, 410]);
  check(enter, { "enter: admitted, waiting or sold out": (r) => [200, 202, 410].includes(r.status) });
  let state = enter.status === 200 ? "admitted" : enter.status === 202 ? "waiting" : "out";
  let wait = enter.status === 202 ? pollAfter(enter) : POLL_S;
  let failures = 0;
  while (state === "waiting") {
    sleep(wait);
    const r = userRequest("GET", `/api/events/${data.id}/queue`, token, "poll", [200]);
    polls.add(1);
    const status = r.status === 200 ? r.json("status") : undefined;
    // every poll must answer 200 with a state the contract knows; anything else is a failed check
    const ok = check(r, { "poll: 200 waiting, admitted, sold_out or closed": () => status === "waiting" || DONE.includes(status) });
    if (ok) {
      failures = 0;
      if (status === "admitted") state = "admitted";
      else if (status !== "waiting") state = "out";
      else wait = pollAfter(r);
    } else if (r.status === 404 || ++failures > POLL_RETRIES) {
      // lost the place (404 not_in_queue) or the server keeps failing: the user leaves, counted above
      console.warn(`user ${exec.vu.idInTest} leaves the line after poll ${r.status} ${r.body}`);
      state = "out";
    } else {
      wait = Math.max(POLL_S, Number(r.headers["Retry-After"] || 0));
    }
  }
  if (state !== "admitted") return;
  const issue = userRequest("POST", `/api/events/${data.id}/issue`, token, "issue", [201, 410]);
  check(issue, { "issue: 201 or sold out": (r) => r.status === 201 || r.status === 410 });
  if (issue.status === 201) issued201.add(1);
}

/** The wait the server asked for (pollAfterMs), never shorter than POLL_MS. */
function pollAfter(r) {
  const ms = Number(r.json("pollAfterMs"));
  return Math.max(POLL_S, Number.isFinite(ms) ? ms / 1000 : 0);
}

export function teardown(data) {
  const after = timings();
  for (const name of Object.keys(ROUTES))
    for (const [q, v] of [["p95", 0.95], ["p99", 0.99]]) {
      const ms = quantileMs(data.timings[name], after[name], v);
      if (ms !== null) serverMs.add(ms, { route: name, q });
      console.log(`server-side ${name} ${q}: ${ms === null ? "no requests" : `${ms.toFixed(2)} ms`}`);
    }
  endCheck(waitDrained(data.id), STOCK);
}
