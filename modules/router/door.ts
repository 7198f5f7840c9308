import type { Config } from "../../src/config";
import { eventStatus } from "../events/model";
import type { QueueState } from "../queue/model";
import type { Tickets } from "../queue/ticket";
import { preQueuePhase, type EventSnapshot } from "./view";

type Claim = "manual" | "on_turn";
/** What the router answers a user who is in (or at) the line: the contract's bodies. */
export type WaitingBody = {
  status: "waiting";
  position: number;
  etaSeconds: number | null;
  pollAfterMs: number;
  remaining: number;
  running: number;
  graceSeconds: number | null;
  claim: Claim;
  paused: boolean;
  slotSeconds: number;
  lapsedAt?: string;
  message: string;
  ticket?: string;
};
export type AdmittedBody = { status: "admitted"; expiresAt: string; slotSeconds: number; lapsedAt?: string; message: string; ticket?: string };
export type PreQueueBody = { status: "pre_queue"; startsAt: string; pollAfterMs: number; remaining: number; preQueued: number; graceSeconds: number | null; claim: Claim; message: string; ticket?: string };
export type IssuedBody = { status: "issued"; eventId: number; code: string; persisted: boolean; validUntil: string | null; ticket?: string };

type PollCfg = Pick<Config["queue"], "minPollMs" | "maxPollMs" | "waiterTimeoutMs" | "slotTtlMs">;
/** What of the event decides grace and pace (the view's snapshot has it; so do tests' stand-ins). */
type EventTimes = Pick<EventSnapshot, "claim" | "slotSeconds" | "graceSeconds">;

/** The event's grace in ms (its graceSeconds, else the env's); null on on_turn events: nobody is dropped for silence. */
const graceMs = (cfg: PollCfg, v: EventTimes | null) => (v?.claim === "on_turn" ? null : v?.graceSeconds ? v.graceSeconds * 1000 : cfg.waiterTimeoutMs);
const graceSeconds = (cfg: PollCfg, v: EventTimes | null) => {
  const g = graceMs(cfg, v);
  return g === null ? null : Math.floor(g / 1000);
};
export const slotSeconds = (cfg: PollCfg, v: EventTimes | null) => v?.slotSeconds || Math.floor(cfg.slotTtlMs / 1000);
// a waiter is never told to come back later than a third of their grace (they would be dropped for obeying)
const clamp = (cfg: PollCfg, v: EventTimes | null, ms: number) => Math.round(Math.min(maxPoll(cfg, v), Math.max(cfg.minPollMs, ms)));
const maxPoll = (cfg: PollCfg, v: EventTimes | null) => Math.max(cfg.minPollMs, Math.min(cfg.maxPollMs, Math.floor((graceMs(cfg, v) ?? Infinity) / 3)));

/**
 * Admissions per second a waiter can expect: the measured rate; before any is measured, the
 * configured one, unless nobody can be admitted now (paused, or every slot taken): then null.
 */
function admissionRate(v: EventSnapshot | null, measured: number, configured: number, paused: boolean): number | null {
  if (paused) return null;
  if (measured > 0) return measured;
  if (v && v.running >= v.runningCapacity) return null;
  return configured;
}

export function waitingBody(cfg: PollCfg, v: EventSnapshot | null, w: { position: number; remaining: number; admitRate: number; admitPerSecond: number; paused: boolean; lapsedAt?: string | null }): WaitingBody {
  const rate = admissionRate(v, w.admitRate, w.admitPerSecond, w.paused);
  const etaSeconds = rate === null ? null : Math.round((w.position / rate) * 10) / 10;
  // Long lines poll less often: about ten polls over the expected wait, within [min, max]. With no
  // ETA to show (every slot held, nobody let in yet) the line can still start moving any moment — a
  // slot frees with each issue —, so the pace assumes it moves at the configured rate; only a
  // paused line polls at the slowest pace.
  const pace = rate ?? (w.paused ? null : w.admitPerSecond);
  const pollAfterMs = pace === null ? maxPoll(cfg, v) : clamp(cfg, v, (w.position / pace) * 100);
  const body: WaitingBody = {
    status: "waiting",
    position: w.position,
    etaSeconds,
    pollAfterMs,
    remaining: w.remaining,
    running: v?.running ?? 0,
    graceSeconds: graceSeconds(cfg, v),
    claim: v?.claim ?? "manual",
    paused: w.paused,
    slotSeconds: slotSeconds(cfg, v),
    message: v?.message ?? "",
  };
  if (w.lapsedAt) body.lapsedAt = w.lapsedAt;
  return body;
}

/**
 * A pre-queued user's answer. Before the start they come back at the start (or after
 * `maxPollMs`, which keeps them alive); from the start until the places are drawn about every
 * second. Both are spread over a second, so the pre-queue does not ask all at the same instant.
 */
export function preQueueBody(cfg: PollCfg, v: EventSnapshot, w: { remaining: number; size: number }, now = Date.now()): PreQueueBody {
  const untilStart = v.startsAt - now;
  const max = maxPoll(cfg, v);
  const pollAfterMs = untilStart > max ? max : clamp(cfg, v, Math.max(0, untilStart) + 500 + Math.random() * 1000);
  return { status: "pre_queue", startsAt: new Date(v.startsAt).toISOString(), pollAfterMs, remaining: w.remaining, preQueued: w.size, graceSeconds: graceSeconds(cfg, v), claim: v.claim, message: v.message };
}

/** On_turn: the user's coupon (`persisted`: whether its row is in MySQL yet; false while that is not known). */
export function issuedBody(v: EventSnapshot, code: string, persisted: boolean): IssuedBody {
  return { status: "issued", eventId: v.id, code, persisted, validUntil: v.couponValidUntil ? new Date(v.couponValidUntil).toISOString() : null };
}

/** The exact answer of the waiting room (enter or poll), as the user sees it (an issued one: issuedBody). */
export function stateBody(cfg: PollCfg, v: EventSnapshot, r: Exclude<QueueState, { status: "issued" }>, now = Date.now()): WaitingBody | AdmittedBody | PreQueueBody {
  if (r.status === "admitted") {
    const body: AdmittedBody = { status: "admitted", expiresAt: r.expiresAt, slotSeconds: slotSeconds(cfg, v), message: v.message };
    if (r.lapsedAt) body.lapsedAt = r.lapsedAt;
    return body;
  }
  if (r.status === "pre_queue") return preQueueBody(cfg, v, r, now);
  return waitingBody(cfg, v, { ...r, paused: v.paused });
}

/**
 * How far from the head a waiter must be to be answered from the view: further than the next
 * ticks can admit (two seconds of admitPerSecond), so nobody who could be admitted by now is told
 * to wait on an old estimate.
 */
export const nearHead = (v: EventSnapshot) => 2 * v.admitPerSecond;

/**
 * A poll answered from the view, or null when only the exact script can answer. The estimate is
 * seq − head + 1 + the users back at a lapsed slot's place (all ahead of everyone; the head is the
 * first waiter after them, so it only moves forward): every arrival sequence between the head and
 * the user is at most one user ahead (leavers and dropped waiters leave holes), so it is never
 * better than the user's true place (docs/how-it-works.md: waiting room accuracy). A pre-queued user's ticket
 * is answered from the view until the places are drawn (the line's head means nothing while they
 * are being moved); then their next poll runs the exact script, which hands them a ticket for
 * their drawn place. A ticket whose place was given up (the user left, and may have entered again
 * behind it) is out of date: only the exact poll answers it, with a ticket for the current place.
 */
export function cheapPoll(cfg: PollCfg, v: EventSnapshot, seq: number, now = Date.now()): WaitingBody | PreQueueBody | { status: "sold_out" | "closed" } | null {
  const status = eventStatus(v, now);
  if (status === "sold_out") return { status: "sold_out" };
  if (status === "closed" || status === "cancelled") return { status: "closed" };
  if (v.departed.has(seq) || seq <= v.departedFloor) return null;
  const phase = preQueuePhase(v, now);
  if (phase === "open" || (phase === "drawing" && v.preEnd >= 0 && seq <= 2 * v.preEnd)) return seq > 0 ? preQueueBody(cfg, v, { remaining: Math.max(0, v.remaining), size: v.waiting }, now) : null;
  if (phase === "drawing") return null;
  if (status !== "open" && status !== "paused") return null;
  if (seq < 1 || v.headSeq < 1 || seq < v.headSeq || seq > v.tailSeq) return null;
  // users back at a lapsed slot's place are ahead of everyone
  const ahead = seq - v.headSeq + v.rejoined;
  if (ahead < nearHead(v)) return null;
  return waitingBody(cfg, v, { position: ahead + 1, remaining: Math.max(0, v.remaining), admitRate: v.admitRate, admitPerSecond: v.admitPerSecond, paused: status === "paused" });
}

/** A new ticket for a user's current place (enter replies, and polls whose ticket is missing or out of date). */
export function ticketFor(tickets: Tickets, v: EventSnapshot | null, eventId: number, user: string, seq: number, joinedAt = Date.now()): string {
  return tickets.sign({ user, eventId, seq, joinedAt, endsAt: v?.endsAt ?? 0 });
}
