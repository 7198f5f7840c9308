// After every scenario: wait for the issuer to catch up, then hold the answers against MySQL.
// A fast wrong answer is a failure, so the scenario's verdict comes from here, not from its speed.
import type mysql from "mysql2/promise";
import { checkInvariants } from "../../scripts/testkit";

export type Admin = ReturnType<typeof adminClient>;

export function adminClient(url: string, adminToken: string) {
  const headers = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = (await res.json().catch(() => null)) as any;
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${JSON.stringify(json)}`);
    return json;
  }
  return {
    createEvent: (body: { name: string; stock: number; trafficRpm: number; runningCapacity: number; admitPerSecond?: number }) =>
      call("POST", "/admin/events", body) as Promise<{ id: number }>,
    stats: (id: number) => call("GET", `/admin/events/${id}`) as Promise<{ stock: number; remaining: number; issued: number; persisted: number; pending: number; dead: number; waiting: number; running: number; status: string }>,
  };
}

export type Verdict = {
  ok: boolean;
  failures: string[];
  stock: number;
  /** users whose issue got a 201 */
  promised: number;
  rows: number;
  duplicates: number;
  overIssue: number;
  /** 201s without a row */
  lost: number;
  /** rows without a 201 (excluding users whose reply never arrived: the run was cut while in flight) */
  phantom: number;
  inFlightRows: number;
  redisIssued: number;
  pending: number;
  dead: number;
  drainWaitMs: number;
  notes: string[];
};

/**
 * Waits until `pending` = 0, then checks: rows ≤ stock, no duplicates, every 201 has its row, no row
 * without a 201. `inFlight` holds users whose issue request was on the wire when the load stopped
 * (the server may have answered 201 to a closed socket): a row for them is legitimate.
 * `exactRedisView`: the strategy keeps Redis's `issued` equal to the rows (redis does; db-lock only
 * refreshes it after commit, so a mismatch there is reported as a note, not a failure).
 * `statuses`: replies by status (any 5xx fails); `expectSoldOut`: demand exceeded stock, so rows = stock.
 */
export async function verify(
  db: mysql.Pool,
  admin: Admin,
  eventId: number,
  stock: number,
  promised: Set<string>,
  inFlight: Set<string>,
  opts: { exactRedisView: boolean; statuses?: Record<string, number>; expectSoldOut?: boolean; drainTimeoutMs?: number },
): Promise<Verdict> {
  const started = Date.now();
  let st = await admin.stats(eventId);
  while (st.pending > 0 && Date.now() - started < (opts.drainTimeoutMs ?? 120_000)) {
    await Bun.sleep(50);
    st = await admin.stats(eventId);
  }
  const drainWaitMs = Date.now() - started;
  const inv = await checkInvariants(db, eventId, stock, promised);
  const phantom = inv.phantom.filter((u) => !inFlight.has(u));
  const failures: string[] = [];
  const notes: string[] = [];
  if (st.pending > 0) failures.push(`pending still ${st.pending} after ${drainWaitMs} ms`);
  if (st.dead > 0) failures.push(`${st.dead} issuances dead-lettered`);
  if (inv.overIssue > 0) failures.push(`over-issued: ${inv.rows} rows for stock ${stock}`);
  if (inv.duplicates > 0) failures.push(`${inv.duplicates} users with more than one row`);
  if (inv.lost.length) failures.push(`${inv.lost.length} users got 201 but have no row (e.g. ${inv.lost.slice(0, 3).join(", ")})`);
  if (phantom.length) failures.push(`${phantom.length} rows without a 201 (e.g. ${phantom.slice(0, 3).join(", ")})`);
  const fiveXx = Object.entries(opts.statuses ?? {}).reduce((a, [s, n]) => (Number(s) >= 500 ? a + n : a), 0);
  if (fiveXx) failures.push(`${fiveXx} replies were 5xx`);
  if (opts.expectSoldOut && inv.rows !== stock) failures.push(`the event sold out but MySQL has ${inv.rows} rows for stock ${stock}`);
  if (st.issued !== inv.rows) {
    const msg = `Redis says issued=${st.issued} but MySQL has ${inv.rows} rows`;
    (opts.exactRedisView ? failures : notes).push(msg);
  }
  return {
    ok: failures.length === 0,
    failures,
    stock,
    promised: promised.size,
    rows: inv.rows,
    duplicates: inv.duplicates,
    overIssue: inv.overIssue,
    lost: inv.lost.length,
    phantom: phantom.length,
    inFlightRows: inv.phantom.length - phantom.length,
    redisIssued: st.issued,
    pending: st.pending,
    dead: st.dead,
    drainWaitMs,
    notes,
  };
}

/** Removes an event's rows once it is verified, so later servers start (and restore) from a small schema. */
export async function dropEvent(db: mysql.Pool, eventId: number) {
  await db.query("DELETE FROM coupon_issues WHERE event_id = ?", [eventId]);
  await db.query("DELETE FROM coupon_events WHERE id = ?", [eventId]);
}

/** Adds a failure found outside `verify` (transport errors, unexpected statuses). */
export function fail(v: Verdict, failure: string) {
  v.failures.push(failure);
  v.ok = false;
}
