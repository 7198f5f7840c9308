import type { Config } from "../../src/config";
import { refusal } from "../events/model";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import type { EnterResult, PollResult, QueueApi, QueueState } from "./model";
import type { TurnIssuer } from "./turn";

type Reply = [string, ...(string | number | undefined)[]];

/** The waiting room: a FIFO waiting line and a capped set of running slots per event, all in Redis. */
export class QueueService implements QueueApi {
  private readonly enterScript;
  private readonly pollScript;
  private readonly admitScript;
  private readonly leaveScript;
  /** Users moved into a running slot: at enter (`direct`) or by a scheduler tick (`scheduler`); fed to the metrics and the funnel. */
  onAdmitted: ((eventId: number, n: number, source: "direct" | "scheduler") => void) | null = null;
  /** Users of an on_turn line issued their coupon on their turn (at enter or by a tick): no slot, so not admitted. */
  onTurnIssued: ((eventId: number, n: number) => void) | null = null;
  /** Issues on_turn events' coupons (set by the queue module; without it on_turn lines wait for a process that has one). */
  turns: TurnIssuer | null = null;
  /** Why issuing on turn failed last, per event (said once per reason). */
  private readonly turnFailures = new Map<number, string>();
  /** A tick's lapsed slots and dropped waiters, and a user who gave up a place or slot: fed to the funnel. */
  onTicked: ((eventId: number, r: { expired: number; stale: number }) => void) | null = null;
  onLeft: ((eventId: number) => void) | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly cfg: Config["queue"],
  ) {
    this.enterScript = runScript(redis, "enter");
    this.pollScript = runScript(redis, "poll");
    this.admitScript = runScript(redis, "admit");
    this.leaveScript = runScript(redis, "leave");
  }

  async enter(eventId: number, userId: string, rpm: number): Promise<EnterResult> {
    const k = eventKeys(this.prefix, eventId);
    const [known, ...r] = (await this.enterScript(k.meta, k.issued, k.waiting, k.waitLive, k.waitSeq, k.running, k.slots, k.lapsed, k.admitLog, userId, Date.now(), this.cfg.slotTtlMs, rpm)) as [number, ...Reply];
    if (r[0] === "admitted" && !known) this.onAdmitted?.(eventId, 1, "direct");
    const s = state(r);
    if (!s) return { status: r[0] as "sold_out" | "not_open" | "event_not_found" | "already_issued" | "line_full", known: known === 1 };
    // on_turn with nobody ahead: issued at once (within the budget), not at the next tick
    if (s.status === "waiting" && s.position === 1 && s.claim === "on_turn" && (await this.issueOnTurn(eventId, 1)) > 0) {
      const p = await this.poll(eventId, userId);
      if (p.status === "issued") return { ...p, known: known === 1 };
    }
    return { ...s, known: known === 1 };
  }

  /** The exact poll (a router answers waiters far from the head from its view instead). */
  async poll(eventId: number, userId: string): Promise<PollResult> {
    const k = eventKeys(this.prefix, eventId);
    const r = (await this.pollScript(k.meta, k.issued, k.waiting, k.waitLive, k.running, k.slots, k.lapsed, k.admitLog, userId, Date.now(), this.cfg.slotTtlMs)) as Reply;
    return state(r) ?? ({ status: r[0] } as PollResult);
  }

  /**
   * Frees the user's place or slot (a lapsed place too); an unknown event is a 404 (over HTTP to a
   * remote queue too). Returns the arrival sequence of the place in line given up (0: none), which
   * is also recorded for every router's view (leave-7.lua).
   */
  async leave(eventId: number, userId: string): Promise<number> {
    const k = eventKeys(this.prefix, eventId);
    // the user's liveness word stays (4 bytes, read only if that sequence ever reaches the head: never)
    const [exists, freed, seq] = (await this.leaveScript(k.meta, k.waiting, k.running, k.slots, k.lapsed, k.departed, k.departedTrim, userId, this.cfg.departuresMax)) as number[];
    if (!exists) throw refusal("event_not_found");
    if (Number(freed) > 0) this.onLeft?.(eventId);
    return Number(seq) || 0;
  }

  /** One scheduler tick for one event (see admit-9.lua; on_turn events: turn-6.lua). */
  async tick(eventId: number, now = Date.now()) {
    const k = eventKeys(this.prefix, eventId);
    const [expired, stale, admitted, status, drawDue, turn] = (await this.admitScript(k.meta, k.waiting, k.waitLive, k.running, k.admitLog, k.slots, k.lapsed, k.departed, k.departedTrim, now, this.cfg.slotTtlMs, this.cfg.waiterTimeoutMs)) as [number, number, number, string, number, number];
    const issued = turn > 0 ? await this.issueOnTurn(eventId, turn, now) : 0;
    if (admitted > 0) this.onAdmitted?.(eventId, admitted, "scheduler");
    this.onTicked?.(eventId, { expired, stale });
    return { expired, stale, admitted: admitted + issued, issued, status, drawDue: drawDue === 1 };
  }

  private async issueOnTurn(eventId: number, want: number, now = Date.now()): Promise<number> {
    if (!this.turns) return 0;
    try {
      const n = await this.turns.issue(eventId, want, now);
      this.turnFailures.delete(eventId);
      if (n > 0) this.onTurnIssued?.(eventId, n);
      return n;
    } catch (e) {
      // the line keeps its order; the next tick tries again
      const why = String((e as Error)?.message ?? e);
      if (this.turnFailures.get(eventId) !== why) console.error(`issuing on turn for event ${eventId} failed: ${why}; retrying every tick`);
      this.turnFailures.set(eventId, why);
      return 0;
    }
  }
}

const at = (v: string | number | undefined) => (Number(v) > 0 ? new Date(Number(v)).toISOString() : null);

function state(r: Reply): QueueState | null {
  if (r[0] === "issued") return { status: "issued", code: String(r[1]) };
  if (r[0] === "pre_queue") return { status: "pre_queue", seq: Number(r[1]), remaining: Math.max(0, Number(r[2])), size: Number(r[3]) };
  if (r[0] === "admitted") return { status: "admitted", expiresAt: new Date(Number(r[1])).toISOString(), remaining: Math.max(0, Number(r[2])), lapsedAt: at(r[3]) };
  if (r[0] !== "waiting") return null;
  return { status: "waiting", position: Number(r[1]), remaining: Math.max(0, Number(r[2])), seq: Number(r[3]), admitRate: Number(r[4]) || 0, admitPerSecond: Number(r[5]) || 1, lapsedAt: at(r[6]), claim: r[7] === "on_turn" ? "on_turn" : "manual" };
}
