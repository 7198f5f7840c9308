// The rush of scripts/test-containers.sh, run from the host against the router container: USERS users
// (a new one each) enter and issue an event of STOCK coupons through ROUTER_URL; once half the stock
// is promised, the container KILL_CONTAINER (an issuer) is SIGKILLed with `docker kill` and the rest of
// the rush goes on without it. Then it waits for pending = 0 and checks the contract's invariants
// against the compose MariaDB (MYSQL_URL): rows = stock (sold out), one row per user, every 201 has its
// row, no row without a 201, no 5xx, nothing dead-lettered. Prints one summary line; exits 1 with the reason when anything is off.
//   ROUTER_URL=… MYSQL_URL=… ADMIN_TOKEN=… AUTH_JWT_SECRET=… [KILL_CONTAINER=id DOCKER=docker] bun scripts/container-rush.ts
import { signJwt } from "../src/auth";
import { checkInvariants, mysqlConn, pool, waitFor } from "./testkit";

const need = (name: string) => process.env[name] || fail(`${name} is not set`);
const ROUTER = need("ROUTER_URL").replace(/\/$/, "");
const ADMIN = need("ADMIN_TOKEN");
const SECRET = need("AUTH_JWT_SECRET");
const MYSQL_URL = need("MYSQL_URL");
const USERS = Number(process.env.USERS || 2000);
const STOCK = Number(process.env.STOCK || 200);
const KILL = process.env.KILL_CONTAINER;

function fail(why: string): never {
  console.error(`[rush] FAILED: ${why}`);
  process.exit(1);
}

async function call(method: string, path: string, bearer: string, body?: unknown) {
  const res = await fetch(ROUTER + path, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const statuses = new Map<string, number>();
const count = (what: string, status: number) => statuses.set(`${what} ${status}`, (statuses.get(`${what} ${status}`) ?? 0) + 1);

const created = await call("POST", "/admin/events", ADMIN, { name: "container rush", stock: STOCK, trafficRpm: 1_000_000, runningCapacity: 100_000 });
if (created.status !== 201) fail(`creating the event through the router: ${created.status} ${JSON.stringify(created.body)}`);
const id = created.body.id as number;

const issued: string[] = [];
let killed: Promise<void> | undefined;
const run = `r${Date.now().toString(36)}`;
const users = Array.from({ length: USERS }, (_, i) => `${run}-${i}`);
const started = performance.now();
await pool(users, 100, async (user) => {
  await killed; // the second half of the rush starts once the issuer is dead
  const token = signJwt(SECRET, user, 3600);
  const enter = await call("POST", `/api/events/${id}/enter`, token);
  count("enter", enter.status);
  if (enter.status !== 200) return;
  const issue = await call("POST", `/api/events/${id}/issue`, enter.body.ticket ?? token);
  count("issue", issue.status);
  if (issue.status !== 201) return;
  issued.push(user);
  if (KILL && !killed && issued.length >= STOCK / 2) {
    // mid-rush: an issuer dies with a batch possibly in hand; the others reclaim its entries
    killed = (async () => {
      const p = Bun.spawn([process.env.DOCKER || "docker", "kill", KILL], { stdout: "pipe", stderr: "pipe" });
      if ((await p.exited) !== 0) fail(`docker kill ${KILL}: ${await new Response(p.stderr).text()}`);
      const st = (await call("GET", `/admin/events/${id}`, ADMIN)).body;
      console.log(`[rush] killed issuer ${KILL.slice(0, 12)} after ${issued.length} coupons (pending then: ${st?.pending})`);
    })();
  }
});
await killed;
const rushMs = performance.now() - started;
if (KILL && !killed) fail(`only ${issued.length} coupons were issued, so the issuer was never killed`);

let stats: any;
await waitFor(
  "pending = 0 (every promise persisted by the surviving issuers)",
  async () => {
    stats = (await call("GET", `/admin/events/${id}`, ADMIN)).body;
    return stats?.pending === 0;
  },
  120_000,
  500,
).catch(() => fail(`pending did not reach 0 within 120 s: ${JSON.stringify(stats)}`));

const db = mysqlConn(MYSQL_URL);
const inv = await checkInvariants(db, id, STOCK, issued).catch((e) => fail(`reading coupon_issues from ${new URL(MYSQL_URL).host}: ${(e as Error).message}`));
await db.end();
const fiveXx = [...statuses].filter(([k]) => Number(k.split(" ")[1]) >= 500);
const problems = [
  inv.rows !== STOCK && `${inv.rows} rows for a stock of ${STOCK} (the rush must sell out exactly)`,
  inv.duplicates > 0 && `${inv.duplicates} users with more than one row`,
  inv.lost.length > 0 && `${inv.lost.length} 201s without a row (e.g. ${inv.lost[0]})`,
  inv.phantom.length > 0 && `${inv.phantom.length} rows without a 201 (e.g. ${inv.phantom[0]})`,
  issued.length !== STOCK && `${issued.length} 201s for a stock of ${STOCK}`,
  fiveXx.length > 0 && `5xx replies: ${fiveXx.map(([k, n]) => `${k}×${n}`).join(", ")}`,
  stats.dead !== 0 && `${stats.dead} dead-lettered`,
].filter(Boolean);
const summary = `event ${id}: ${USERS} users, stock ${STOCK}, ${issued.length} × 201, ${inv.rows} rows, replies ${JSON.stringify(Object.fromEntries(statuses))}, ${Math.round(rushMs)} ms`;
if (problems.length) fail(`${problems.join("; ")} (${summary})`);
console.log(`[rush] ok: ${summary}; invariants hold (rows = stock, one per user, every 201 has its row, none without)`);
