import type { Config } from "../../src/config";
import { refusal } from "../events/model";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import type { EnterResult, PollResult, QueueApi, QueueState } from "./model";

type Reply = [string, ...(string | number | undefined)[]];

/** The waiting room: a FIFO waiting line and a capped set of running slots per event, all in Redis. */
export class QueueService implements QueueApi {
  private readonly enterScript;
  private readonly pollScript;
  private readonly admitScript;
  /** Users moved into a running slot: at enter (`direct`) or by a scheduler tick (`scheduler`); fed to the metrics. */
  onAdmitted: ((eventId: number, n: number, source: "direct" | "scheduler") => void) | null = null;
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
  }

  async enter(eventId: number, userId: string, rpm: number): Promise<EnterResult> {
    const k = eventKeys(this.prefix, eventId);
    const r = (await this.enterScript(k.meta, k.issued, k.waiting, k.waitLive, k.waitSeq, k.running, userId, Date.now(), this.cfg.slotTtlMs, rpm)) as Reply;
    if (r[0] === "admitted" && r[3] !== undefined) this.onAdmitted?.(eventId, 1, "direct");
    return state(r) ?? { status: r[0] as "sold_out" | "not_open" | "event_not_found" | "already_issued" | "line_full" };
  }

  /** The exact poll (a router answers waiters far from the head from its view instead). */
  async poll(eventId: number, userId: string): Promise<PollResult> {
    const k = eventKeys(this.prefix, eventId);
    const r = (await this.pollScript(k.meta, k.waiting, k.waitLive, k.running, userId, Date.now())) as Reply;
    return state(r) ?? ({ status: r[0] } as PollResult);
  }

  /** Frees the user's place or slot; an unknown event is a 404 (over HTTP to a remote queue too). */
  async leave(eventId: number, userId: string): Promise<void> {
    const k = eventKeys(this.prefix, eventId);
    // without the event's meta its line and slots are empty, so the removals change nothing;
    // the user's liveness word stays (4 bytes, read only if that sequence ever reaches the head: never)
    const res = await this.redis.multi().exists(k.meta).zrem(k.waiting, userId).zrem(k.running, userId).exec();
    const [err, exists] = res![0]!;
    if (err) throw err;
    if (!exists) throw refusal("event_not_found");
    if (Number(res![1]![1]) + Number(res![2]![1]) > 0) this.onLeft?.(eventId);
  }

  /** One scheduler tick for one event (see admit-5.lua). */
  async tick(eventId: number, now = Date.now()) {
    const k = eventKeys(this.prefix, eventId);
    const [expired, stale, admitted, status, drawDue] = (await this.admitScript(k.meta, k.waiting, k.waitLive, k.running, k.admitLog, now, this.cfg.slotTtlMs, this.cfg.waiterTimeoutMs)) as [number, number, number, string, number?];
    if (admitted > 0) this.onAdmitted?.(eventId, admitted, "scheduler");
    this.onTicked?.(eventId, { expired, stale });
    return { expired, stale, admitted, status, drawDue: drawDue === 1 };
  }
}

function state(r: Reply): QueueState | null {
  if (r[0] === "pre_queue") return { status: "pre_queue", seq: Number(r[1]), remaining: Math.max(0, Number(r[2])), size: Number(r[3]) };
  if (r[0] === "admitted") return { status: "admitted", expiresAt: new Date(Number(r[1])).toISOString(), remaining: Math.max(0, Number(r[2])) };
  if (r[0] !== "waiting") return null;
  return { status: "waiting", position: Number(r[1]), remaining: Math.max(0, Number(r[2])), seq: Number(r[3]), admitRate: Number(r[4]) || 0, admitPerSecond: Number(r[5]) || 1 };
}
