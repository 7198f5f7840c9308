import { Elysia, t } from "elysia";
import { adminGuard, needsScope } from "../../src/auth";
import { documentedAs, route } from "../../src/docs";
import { ApiError } from "../../src/http";
import type { Kernel } from "../../src/kernel";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import { eventId } from "../events";
import { Err, EVENT_ID_DOC, Int, refusal } from "../events/model";
import { liveAgain, type EventService } from "../events/service";
import { entryFields, MAX_ISSUED_AT, parseEntry, type Entry } from "./service";

const ENTRY_ID = /^(\d{1,20})-(\d{1,20})$/;
const U64_MAX = 2n ** 64n - 1n;

/** A Redis stream id `<ms>-<seq>`, both parts unsigned 64-bit (Redis refuses anything else with an error, not a miss). */
export function isStreamId(raw: string): boolean {
  const m = ENTRY_ID.exec(raw);
  return !!m && BigInt(m[1]!) <= U64_MAX && BigInt(m[2]!) <= U64_MAX;
}

/** Dead-lettered issuances: promised coupons the issuer could not store, listed and replayable by an admin. */
export class DeadLetters {
  private readonly replayScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly events: EventService,
    private readonly prefix: string,
  ) {
    this.replayScript = runScript(redis, "replayDead");
  }

  private async keys(id: number) {
    if (!(await this.events.ensureLoaded(id))) throw refusal("event_not_found");
    return eventKeys(this.prefix, id);
  }

  async list(id: number, limit: number) {
    const k = await this.keys(id);
    const [entries, total] = await Promise.all([this.redis.xrange(k.dead, "-", "+", "COUNT", limit) as Promise<Entry[]>, this.redis.xlen(k.dead)]);
    return {
      total,
      entries: entries.map(([entry, fields]) => {
        const f = entryFields(fields);
        return {
          entry,
          userId: f.u ?? null,
          issuedAt: Number(f.t) > 0 && Number(f.t) <= MAX_ISSUED_AT ? new Date(Number(f.t)).toISOString() : null,
          source: f.source ?? null,
          reason: f.reason ?? null,
          deadAt: f.deadAt ? new Date(Number(f.deadAt)).toISOString() : null,
        };
      }),
    };
  }

  async replay(id: number, entry: string) {
    if (!isStreamId(entry)) throw new ApiError(404, "not_found", "no such dead-letter entry");
    const k = await this.keys(id);
    const found = (await this.redis.xrange(k.dead, entry, entry)) as Entry[];
    // an entry that could never become a row stays dead rather than going round again
    if (found[0] && !parseEntry(id, [entry, found[0][1]])) throw new ApiError(422, "unprocessable_entry", "the entry is malformed and cannot be stored; it stays dead-lettered");
    const [status, streamId] = (await this.replayScript(k.dead, k.stream, k.replayed, entry)) as [string, string?];
    if (status === "not_found") throw new ApiError(404, "not_found", "no such dead-letter entry");
    // the entry is back in the stream of an event that may have left the live set: the issuers must see it
    await liveAgain(this.redis, this.prefix, id);
    return { status: status as "replayed" | "already_replayed", entry, streamId: streamId! };
  }
}

const doc = { tags: ["admin"] };
const EventId = documentedAs(t.String({ maxLength: 32 }), EVENT_ID_DOC);
const Params = t.Object({ id: EventId, entry: t.String({ maxLength: 64, description: "the dead letter's stream entry id, `<ms>-<seq>`" }) });
const DeadLetter = t.Object(
  { entry: t.String(), userId: t.Nullable(t.String()), issuedAt: t.Nullable(t.String()), source: t.Nullable(t.String()), reason: t.Nullable(t.String()), deadAt: t.Nullable(t.String()) },
  { $id: "DeadLetter", description: "a promised issuance the issuer could not store" },
);
const unavailable = Err("unavailable", "upstream_unavailable");

/** The routes, schemas and docs (a split router documents them as it forwards them). */
export const deadLetterRoutes = {
  list: route("GET", "/admin/events/:id/dead", {
    params: t.Object({ id: EventId }),
    // a number to a client; Elysia's Numeric reads the query text
    query: t.Object({ limit: t.Optional(documentedAs(t.Numeric({ minimum: 1, maximum: 1000, multipleOf: 1 }), { type: "integer", minimum: 1, maximum: 1000, default: 100 })) }),
    response: {
      200: t.Object({ total: Int({ minimum: 0 }), entries: t.Array(DeadLetter) }, { $id: "DeadLetters", description: "the event's dead letters, oldest first" }),
      400: Err("bad_request"),
      401: Err("unauthorized"),
      404: Err("event_not_found"),
      503: unavailable,
    },
    detail: { ...doc, ...needsScope("events:read"), operationId: "listDeadLetters", summary: "Dead-lettered issuances of an event (oldest first)" },
  }),
  retry: route("POST", "/admin/events/:id/dead/:entry/retry", {
    params: Params,
    response: {
      200: t.Object({ status: t.Union([t.Literal("replayed"), t.Literal("already_replayed")]), entry: t.String(), streamId: t.String() }, { $id: "Replayed", description: "the entry is back in the issuance stream" }),
      400: Err("bad_request"),
      401: Err("unauthorized"),
      404: Err("event_not_found", "not_found"),
      422: Err("unprocessable_entry"),
      503: unavailable,
    },
    detail: { ...doc, ...needsScope("events:write"), operationId: "retryDeadLetter", summary: "Replay one dead-lettered issuance into the stream (idempotent)" },
  }),
};
const R = deadLetterRoutes;

/** The admin routes of dead letters (served by the coupon role, which owns the events). */
export function deadLettersModule(k: Kernel) {
  const dead = new DeadLetters(k.redis, k.events!, k.config.keyPrefix);
  return new Elysia({ name: "dead-letters" }).guard(adminGuard(k.auth), (admin) =>
    admin
      .get(R.list.path, ({ params, query }) => dead.list(eventId(params.id), query.limit ?? 100), R.list.hook)
      .post(R.retry.path, async ({ params, request }) => {
        const id = eventId(params.id);
        const r = await dead.replay(id, params.entry);
        if (r.status === "replayed") await k.audit(request, { action: "dead_letter_retry", eventId: id, target: params.entry, before: { entry: params.entry }, after: { streamId: r.streamId } });
        return r;
      }, R.retry.hook),
  );
}
