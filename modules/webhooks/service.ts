import { rootCertificates } from "node:tls";
import type { ResultSetHeader, RowDataPacket } from "mysql2";
import { Webhook } from "standardwebhooks";
import type { Config } from "../../src/config";
import { inTransaction, type Mysql } from "../../src/db";
import { OutageLog } from "../../src/outage";
import { ForbiddenTarget, resolveTarget, systemLookup, type Lookup } from "./guard";
import { webhookId } from "./outbox";

/**
 * The signer of the Standard Webhooks specification (the `standardwebhooks` package, which shops
 * verify with in any language): `whsec_<base64>` is the key's bytes in base64; any other secret is
 * used as its raw UTF-8 bytes (the same as `whsec_` + its base64).
 */
export function signer(secret: string): Webhook {
  return secret.startsWith("whsec_") ? new Webhook(secret) : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
}

/**
 * How long to wait before the next attempt after `attempts` failed ones: exponential from `baseMs`,
 * capped at `maxMs`, with "equal jitter" (half fixed, half random) so that after an outage the
 * retries of many deliveries spread out instead of arriving together, yet never come back at once.
 */
export function retryDelay(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Deliveries of one event: done, still owed, and failed attempts so far. */
export async function deliveryCounts(mysql: Mysql, eventId: number): Promise<{ delivered: number; pending: number; failedAttempts: number }> {
  const [[r]] = await mysql.pool.query<RowDataPacket[]>(
    "SELECT COUNT(delivered_at) AS delivered, COUNT(*) - COUNT(delivered_at) AS pending, COALESCE(SUM(attempts), 0) - COUNT(delivered_at) AS failed FROM webhook_outbox WHERE event_id = ?",
    [eventId],
  );
  return { delivered: Number(r?.delivered ?? 0), pending: Number(r?.pending ?? 0), failedAttempts: Number(r?.failed ?? 0) };
}

type Due = { id: number; eventId: number; body: string; attempts: number };
export type DeliveryOutcome = "delivered" | "failed";
export type DispatcherOptions = Config["webhooks"] & { lookup?: Lookup };

/**
 * Delivers the webhook outbox (rows written in the same transaction as what they announce) to each
 * event's webhookUrl: at least once, signed by the Standard Webhooks scheme, with retries. Runs beside
 * the issuer loop, never inside it: a slow or dead receiver only delays its own deliveries.
 *
 * Several processes may run it at once: due rows are claimed with `FOR UPDATE SKIP LOCKED` and
 * leased (next_attempt_at pushed past the request timeout) in one short transaction, then posted
 * with no lock held. A process that dies mid-delivery leaves the lease to run out, and another one
 * delivers the row again: receivers must expect a `webhook-id` twice (at least once, never zero).
 */
export class WebhookDispatcher {
  private loop: Promise<void> | null = null;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  private wake: (() => void) | null = null;
  private backoffMs = 0;
  private readonly tickOutage = new OutageLog("webhooks: tick");
  private readonly pollOutage = new OutageLog("webhooks: poll");
  private readonly webhook: Webhook;
  private readonly lookup: Lookup;
  private readonly ca: string[] | undefined;
  readonly stats = { delivered: 0, failedAttempts: 0 };
  /** Called after every attempt (for metrics). */
  onAttempt: ((outcome: DeliveryOutcome) => void) | null = null;
  /** Called with the deliveries owed (all events) and the age of the oldest in seconds, at most every PENDING_EVERY_MS (for metrics). */
  onPending: ((n: number, oldestSeconds: number) => void) | null = null;
  /** Runs once per loop turn, beside the deliveries (the status watcher): errors are logged, never stop the loop. */
  onTick: (() => Promise<unknown>) | null = null;
  private pendingAt = 0;

  constructor(
    private readonly mysql: Mysql,
    secret: string,
    private readonly cfg: DispatcherOptions,
  ) {
    this.webhook = signer(secret);
    this.lookup = cfg.lookup ?? systemLookup;
    // an extra CA extends the system's trust rather than replacing it
    this.ca = cfg.ca ? [...rootCertificates, cfg.ca] : undefined;
  }

  start() {
    this.stopping = false;
    this.loop ??= this.run().finally(() => (this.loop = null));
  }

  /** Stops claiming, and waits for the deliveries in flight (each bounded by the request timeout). */
  async stop() {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    await Promise.all(this.inFlight);
  }

  /** New rows were written or one was scheduled for now (a batch persisted here, a redeliver): look now rather than at the next poll. */
  poke() {
    this.wake?.();
  }

  private async run() {
    while (!this.stopping) {
      let full = false;
      try {
        if (this.onTick) await this.onTick().then(() => this.tickOutage.ok(), (e) => this.tickOutage.failed(e));
        const free = this.cfg.concurrency - this.inFlight.size;
        if (free > 0) {
          const due = await this.claim(free);
          full = due.length === free;
          if (due.length) await this.dispatch(due);
        } else full = true;
        if (this.onPending && Date.now() - this.pendingAt >= PENDING_EVERY_MS) {
          this.pendingAt = Date.now();
          const [[r]] = await this.mysql.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_outbox WHERE delivered_at IS NULL");
          this.onPending(Number(r?.n ?? 0), r?.oldest ? Math.max(0, (Date.now() - (r.oldest as Date).getTime()) / 1000) : 0);
        }
        this.backoffMs = 0;
        this.pollOutage.ok();
      } catch (e) {
        // MySQL down or unreachable: the rows wait in the outbox
        this.backoffMs = Math.min(5000, Math.max(200, this.backoffMs * 2));
        this.pollOutage.failed(e);
      }
      // every slot busy: wait for one to free up; nothing (more) due: wait for the next poll or a poke
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.backoffMs || this.cfg.pollMs);
        this.wake = done;
        function done() {
          clearTimeout(timer);
          resolve();
        }
        if (full && this.inFlight.size < this.cfg.concurrency) done();
      });
      this.wake = null;
    }
  }

  /** Claims up to `n` due rows for this process: locked only for this short transaction, leased past the timeout. */
  private claim(n: number): Promise<Due[]> {
    return inTransaction(this.mysql.pool, async (conn) => {
      const now = Date.now();
      const [rows] = await conn.query<RowDataPacket[]>(
        "SELECT id, event_id, body, attempts FROM webhook_outbox WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED",
        [new Date(now), n],
      );
      if (rows.length)
        await conn.query("UPDATE webhook_outbox SET next_attempt_at = ? WHERE id IN (?)", [new Date(now + this.cfg.timeoutMs + LEASE_MARGIN_MS), rows.map((r) => r.id)]);
      return rows.map((r) => ({ id: Number(r.id), eventId: Number(r.event_id), body: String(r.body), attempts: Number(r.attempts) }));
    });
  }

  private async dispatch(due: Due[]) {
    const ids = [...new Set(due.map((d) => d.eventId))];
    const [events] = await this.mysql.pool.query<RowDataPacket[]>("SELECT id, webhook_url FROM coupon_events WHERE id IN (?)", [ids]);
    const urls = new Map(events.map((e) => [Number(e.id), (e.webhook_url as string | null) || null]));
    for (const d of due) {
      const p: Promise<void> = this.deliver(d, urls.get(d.eventId) ?? null)
        .catch((e) => console.error(`webhooks: delivery ${d.id}: ${(e as Error)?.message ?? e}`))
        .finally(() => {
          this.inFlight.delete(p);
          this.wake?.();
        });
      this.inFlight.add(p);
    }
  }

  private async deliver(d: Due, url: string | null) {
    const error = url ? await this.post(d, url) : "the event has no webhookUrl";
    const now = Date.now();
    if (error === null) {
      await this.mysql.pool.query<ResultSetHeader>("UPDATE webhook_outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?", [new Date(now), d.id]);
      this.stats.delivered++;
    } else {
      const next = new Date(now + retryDelay(d.attempts + 1, this.cfg.retryBaseMs, this.cfg.retryMaxMs));
      await this.mysql.pool.query<ResultSetHeader>("UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?", [next, error.slice(0, 500), d.id]);
      this.stats.failedAttempts++;
    }
    this.onAttempt?.(error === null ? "delivered" : "failed");
  }

  /**
   * Posts the body exactly as stored, signed for this attempt (webhook-timestamp is now), to the
   * address the guard checked: the URL's host is resolved and checked here, and the connection goes
   * to that address with the host name kept for TLS (SNI and the certificate check) and the Host
   * header. Null when the receiver answered 2xx, else why not.
   */
  private async post(d: Due, url: string): Promise<string | null> {
    try {
      const u = new URL(url);
      if (u.protocol !== "https:") return "forbidden target: webhookUrl is not https://";
      const address = await resolveTarget(u, this.cfg.allowPrivate, this.lookup);
      const pinned = new URL(u);
      pinned.hostname = address;
      const msgId = webhookId(d.id);
      const at = new Date();
      const res = await fetch(pinned, {
        method: "POST",
        headers: {
          host: u.host,
          "content-type": "application/json",
          "user-agent": "massive-coupon-webhooks",
          "webhook-id": msgId,
          "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
          "webhook-signature": this.webhook.sign(msgId, at, d.body),
        },
        body: d.body,
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
        // a redirect is not a delivery: the signed body goes only where the operator said
        redirect: "manual",
        tls: { serverName: u.hostname.replace(/^\[|\]$/g, ""), ...(this.ca ? { ca: this.ca } : {}) },
      } as RequestInit);
      await res.body?.cancel().catch(() => {});
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
    } catch (e) {
      const err = e as Error;
      if (err instanceof ForbiddenTarget) return `forbidden target: ${err.message}`;
      return err?.name === "TimeoutError" ? `no answer within ${this.cfg.timeoutMs} ms` : String(err?.message ?? err);
    }
  }
}

// a lease outlives the request it covers by this much (the time to record its outcome)
const LEASE_MARGIN_MS = 30_000;
const PENDING_EVERY_MS = 5000;
