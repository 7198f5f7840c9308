import { Elysia, t } from "elysia";
import type { Auth } from "../../src/auth";
import type { Config } from "../../src/config";
import type { Kernel } from "../../src/kernel";
import { Snapshot } from "../../src/metrics";
import { routerEventSource } from "../../src/metrics-sources";
import { SECURITY } from "../../src/docs";
import { ApiError, errorBody } from "../../src/http";
import { limited, RateLimited, rateLimit, userBuckets, type TokenBuckets } from "../../src/ratelimit";
import { eventKeys, type RedisClient } from "../../src/redis";
import { eventId } from "../events";
import { Err, eventStatus, EventIdParams, PublicEvent, publicEvent, refusal } from "../events/model";
import { remotePersisted } from "../coupon/internal";
import { isPersisted } from "../coupon/service";
import { HttpQueueClient } from "../queue/internal";
import { EnterDone, EnterQueued, PollReply, type QueueApi } from "../queue/model";
import type { CallerResolver, Tickets } from "../queue/ticket";
import { cheapPoll, issuedBody, stateBody, ticketFor, type IssuedBody } from "./door";
import { botGateModule, PROOF_HEADER, type BotCheckFn } from "../botgate";
import { RateMeter } from "./rate";
import { EventView, type EventSnapshot } from "./view";

const userDoc = { tags: ["user"], security: SECURITY.user };
// the waiting room's routes also take the waiting ticket in place of the user's token
const ticketDoc = { tags: ["user"], security: SECURITY.userOrTicket };
const unavailable = Err("unavailable", "upstream_unavailable");

type Refusal = Parameters<typeof refusal>[0];
const refusals = new Map<Refusal, ReturnType<typeof refusal>>();
/**
 * A refusal answered without throwing: the view's refusals are most of a flash crowd's replies,
 * and building and unwinding an Error per request is a measurable share of their cost.
 */
function refuse(set: { status?: number | string }, code: Refusal, id: number, d: RouterDeps) {
  d.onRefused?.(id, code);
  let e = refusals.get(code);
  if (!e) refusals.set(code, (e = refusal(code)));
  set.status = e.status;
  return errorBody(e.code, e.message);
}

export type RouterDeps = {
  queue: QueueApi;
  meter: RateMeter;
  auth: Auth;
  view: EventView;
  tickets: Tickets;
  caller: CallerResolver;
  redis: RedisClient;
  prefix: string;
  cfg: Pick<Config["queue"], "minPollMs" | "maxPollMs" | "waiterTimeoutMs" | "slotTtlMs">;
  /** whether the user's coupon row is in MySQL (asked of the coupon process where this one has no MySQL; false when unknown) */
  persisted: (eventId: number, userId: string) => Promise<boolean>;
  /** an enter refused from the view (the metrics count enter outcomes per event) */
  onRefused?: (eventId: number, code: string) => void;
  /** the per-user rate limit, taken by enter once it has verified the token */
  users?: TokenBuckets | null;
  /** the bot gate's check of an enter on a gated event (modules/botgate) */
  botCheck?: BotCheckFn;
  /** a waiter learned they were admitted: seconds from joining the line (the ticket's join time) */
  onWaited?: (eventId: number, seconds: number) => void;
};

/**
 * The door: every user request of the waiting room comes here. What the router's view of the
 * event already knows (unknown event, sold out, not open, closed, a full line, the place of a
 * waiter far from the head) is answered from memory; everything else, and anything that could
 * lead to a running slot or a coupon, goes to the waiting room's Lua (in process or over HTTP).
 */
const doorRoutes = (d: RouterDeps) => {
  const { queue, meter, auth, view, tickets, caller, cfg } = d;
  const snapshot = async (id: number): Promise<EventSnapshot> => {
    const v = await view.get(id);
    if (!v) throw refusal("event_not_found");
    return v;
  };
  /** With a full line only users already in it (or holding a slot or a coupon) may enter again: one read each. */
  const holdsPlace = async (id: number, user: string) => {
    const k = eventKeys(d.prefix, id);
    const [place, slot, code] = await Promise.all([d.redis.zscore(k.waiting, user), d.redis.zscore(k.running, user), d.redis.hexists(k.issued, user)]);
    return place !== null || Number(slot) > Date.now() || code === 1;
  };
  /** On_turn: the caller's coupon, whatever the event's state now (sold out, closed): one read; null without a valid token. */
  const heldCodeOf = async (id: number, header: string | null) => {
    auth.authenticate(header);
    const user = auth.userOrNull(header);
    const code = user ? await d.redis.hget(eventKeys(d.prefix, id).issued, user) : null;
    return user && code ? { user, code } : null;
  };

  return new Elysia({ name: "router" })
    .get(
      "/api/events/:id",
      async ({ params, set }) => {
        const v = await snapshot(eventId(params.id));
        set.headers["cache-control"] = "public, max-age=1";
        return publicEvent(v);
      },
      {
        params: EventIdParams,
        response: { 200: PublicEvent, 404: Err("event_not_found"), 429: RateLimited, 503: unavailable },
        detail: { operationId: "getEvent", tags: ["user"], security: SECURITY.public, summary: "Public event info (no token; from the router's view of the event, at most a flush old)" },
      },
    )
    .post(
      "/api/events/:id/enter",
      async ({ params, request, set }) => {
        const id = eventId(params.id);
        const v = await snapshot(id);
        const now = Date.now();
        // refusals the view can give on its own (a stale "open" goes on to Lua: never a wrong 200/202),
        // public facts answered before the token is verified (contract, "Hardening")
        const status = eventStatus(v, now);
        const viewRefusal: Refusal | null =
          status === "sold_out" ? "sold_out"
          : status === "closed" || status === "cancelled" ? "not_open"
          : status === "scheduled" && !(v.queueOpensAt > 0 && now >= v.queueOpensAt) ? "not_open"
          : null;
        const header = request.headers.get("authorization");
        if (viewRefusal) {
          // on_turn: a holder coming back after the end still gets their coupon (with a valid token)
          const code = v.claim === "on_turn" ? await heldCodeOf(id, header) : null;
          if (code) return { ...issuedBody(v, code.code, await d.persisted(id, code.user)), ticket: ticketFor(tickets, v, id, code.user, 0, now) };
          return refuse(set, viewRefusal, id, d);
        }
        // A full line is a public fact too: answered before the token is verified, the same answer
        // whatever the token names. Only users already in the line (or holding a slot or a coupon) may
        // enter again, and they entered with a verified token: a token this router has verified (and
        // still remembers) is looked at further, below; anyone else is told line_full at once — also a
        // holder whose token only another router verified (their place is kept: the page polls with its ticket).
        const full = v.maxWaiting > 0 && v.waiting >= v.maxWaiting;
        if (full && auth.userOrNull(header) === null) {
          meter.count(id);
          return refuse(set, "line_full", id, d);
        }
        auth.authenticate(header);
        const user = auth.user(header);
        // the per-user limit, here where the user is known (counted as rate_limited by the router's after-response hook)
        const wait = d.users?.take(user) ?? 0;
        if (wait) return limited(set, wait);
        // the rate before this request; an enter counts toward it unless the user already held a
        // place, a slot or a coupon (one account entering again and again must not fill the waiting room)
        const rpm = await meter.rate(id);
        // before any Redis work for the line (contract, "Bot gate")
        if (v.botPow > 0 && d.botCheck && !(await d.botCheck(id, user, request.headers.get(PROOF_HEADER)))) {
          meter.count(id);
          return refuse(set, "bot_check_failed", id, d);
        }
        if (full && !(await holdsPlace(id, user))) {
          meter.count(id);
          return refuse(set, "line_full", id, d);
        }
        let r;
        try {
          r = await queue.enter(id, user, rpm);
        } catch (e) {
          meter.count(id);
          throw e;
        }
        if (!r.known) meter.count(id);
        if (r.status === "issued") {
          const body: IssuedBody = issuedBody(v, r.code, await d.persisted(id, user));
          body.ticket = ticketFor(tickets, v, id, user, 0, now);
          return body;
        }
        if (r.status !== "admitted" && r.status !== "waiting" && r.status !== "pre_queue") throw refusal(r.status);
        const body = stateBody(cfg, v, r, now);
        body.ticket = ticketFor(tickets, v, id, user, r.status === "admitted" ? 0 : r.seq, now);
        if (r.status !== "admitted") set.status = 202;
        return body;
      },
      {
        params: EventIdParams,
        response: {
          200: EnterDone,
          202: EnterQueued,
          401: Err("unauthorized"),
          403: Err("bot_check_failed"),
          404: Err("event_not_found"),
          409: Err("not_open", "already_issued"),
          410: Err("sold_out", "line_full"),
          429: RateLimited,
          503: unavailable,
        },
        detail: {
          ...userDoc,
          operationId: "enterEvent",
          summary: "Enter the event: admitted now (manual), issued (on_turn, nobody ahead), or a place in the waiting room (with a waiting ticket)",
          description:
            "On an event with a bot gate (botGate not null) a new entrant sends a solved challenge (GET /api/events/{id}/challenge) as header X-Bot-Proof; users already in the line or holding a slot or coupon need none. Manual events: waits when anyone is waiting, the running queue is full, or the event's live request rate reaches trafficRpm. On_turn events: joining the line is the request; the coupon is issued when the user's turn comes (at once when nobody is ahead), and a holder entering again gets it back (200 issued). Between queueOpensAt and startsAt the user joins the pre-queue. A paused event still queues. Idempotent: entering again returns the user's current state and does not count toward trafficRpm. A user whose running slot lapsed unused gets their place back (lapsedAt), admitted before anyone who entered after them. Every 200/202 carries a waiting ticket.",
        },
      },
    )
    .get(
      "/api/events/:id/queue",
      async ({ params, request }) => {
        const id = eventId(params.id);
        const who = await caller(request.headers.get("authorization"), id);
        const v = await snapshot(id);
        // without a ticket the user's place is unknown here, but an ended event is ended for everyone
        let cheap = cheapPoll(cfg, v, who.ticket?.seq ?? 0);
        // an on_turn event that ended may still hold this user's coupon: the exact poll says
        if (cheap && v.claim === "on_turn" && (cheap.status === "sold_out" || cheap.status === "closed")) cheap = null;
        if (cheap) {
          if (cheap.status === "waiting" || cheap.status === "pre_queue") view.markLive(id, who.ticket!.seq);
          return cheap;
        }
        const r = await queue.poll(id, who.user);
        if (r.status === "sold_out" || r.status === "closed") return { status: r.status };
        if (r.status === "issued") {
          const body = issuedBody(v, r.code, await d.persisted(id, who.user));
          if (who.ticket && who.ticket.seq > 0) d.onWaited?.(id, Math.max(0, Date.now() - who.ticket.joinedAt) / 1000);
          if (!who.ticket || who.ticket.seq > 0) body.ticket = ticketFor(tickets, v, id, who.user, 0, who.ticket?.joinedAt);
          return body;
        }
        if (r.status !== "admitted" && r.status !== "waiting" && r.status !== "pre_queue") throw refusal(r.status);
        const body = stateBody(cfg, v, r);
        // a poll without a ticket, or with one for an earlier place (left and entered again, or a
        // pre-queue place now drawn: its wait is measured from the draw), gets the current one
        const seq = r.status === "admitted" ? 0 : r.seq;
        if (!who.ticket || (r.status !== "admitted" && who.ticket.seq !== seq)) body.ticket = ticketFor(tickets, v, id, who.user, seq);
        else if (r.status === "admitted" && who.ticket.seq > 0) {
          // the wait ends here: measured once, then the ticket says "not waiting" (seq 0)
          d.onWaited?.(id, Math.max(0, Date.now() - who.ticket.joinedAt) / 1000);
          body.ticket = ticketFor(tickets, v, id, who.user, 0, who.ticket.joinedAt);
        }
        return body;
      },
      {
        params: EventIdParams,
        response: {
          200: PollReply,
          401: Err("unauthorized"),
          403: Err("wrong_event"),
          404: Err("event_not_found", "not_in_queue"),
          429: RateLimited,
          503: unavailable,
        },
        detail: {
          ...ticketDoc,
          operationId: "pollQueue",
          summary: "Poll your place (user token or waiting ticket): waiting (position, ETA, when to poll again), in the pre-queue, admitted, issued (on_turn: the coupon, also after the page was closed), or the event ended",
          description:
            "A poll never makes a new place (not in the line: 404 not_in_queue). Manual events: polling keeps a waiter's place (one silent for longer than graceSeconds is dropped when the line reaches them, never before the pre-queue's draw); admitted means a running slot until expiresAt; a user whose slot lapsed unused is put back at their place by this poll (lapsedAt), admitted at once when at the head with a slot free, never sent to the back. On_turn events: nobody is dropped for silence; once the user's turn came the reply is 200 issued with the code (persisted: whether its row is stored yet), also after the event sold out or closed.",
        },
      },
    )
    .delete(
      "/api/events/:id/queue",
      async ({ params, request, set }) => {
        const id = eventId(params.id);
        const who = await caller(request.headers.get("authorization"), id);
        view.markDeparted(id, await queue.leave(id, who.user));
        set.status = 204;
      },
      {
        params: EventIdParams,
        response: {
          204: t.Void({ description: "left: the place or slot is freed (also when the user held none)" }),
          401: Err("unauthorized"),
          403: Err("wrong_event"),
          404: Err("event_not_found"),
          429: RateLimited,
          503: unavailable,
        },
        detail: { ...ticketDoc, operationId: "leaveQueue", summary: "Leave the line or give up the running slot or a lapsed place (user token or waiting ticket); on an on_turn event, the claim on a coupon at the user's turn" },
      },
    );
};

const ENTER_ROUTE = "/api/events/:id/enter";

/**
 * The router role: the door (above) with the clients' rate limits (clients reach only the router,
 * so that is where they are limited: a backend sees the router's address), its view of live
 * events and the request-rate meter that refreshes it, and the door's metrics. The waiting room is
 * the one in this process, or the queue server at QUEUE_URL.
 */
export function routerModule(k: Kernel) {
  const { config, redis, events, metrics, auth, tickets } = k;
  const meter = new RateMeter(redis, config.keyPrefix, config.router.rateFlushMs);
  // the router's view of live events, refreshed with the rate counts (one round trip per flush)
  const view = (k.parts.view = new EventView(redis, config.keyPrefix, config.router.rateFlushMs));
  meter.onFlush = () => view.refresh();
  const { funnel } = k;
  if (events) {
    events.onChange = (id) => view.invalidate(id);
    view.rebuild = async (id) => !!(await events.ensureLoaded(id));
  }
  const served: QueueApi = k.roles.remoteQueue ? new HttpQueueClient(config.queueUrl!, config.internalToken!, config.upstreamTimeoutMs) : k.queue;
  // where MySQL is at hand, an event Redis lost (or holds half-written) is rebuilt before the answer
  const queue: QueueApi = events
    ? {
        enter: async (id, user, rpm) => {
          const r = await served.enter(id, user, rpm);
          return r.status === "event_not_found" && (await events.ensureLoaded(id)) ? served.enter(id, user, rpm) : r;
        },
        poll: async (id, user) => {
          const r = await served.poll(id, user);
          return r.status === "event_not_found" && (await events.ensureLoaded(id)) ? served.poll(id, user) : r;
        },
        leave: (id, user) => served.leave(id, user),
      }
    : served;
  // each enter's outcome is counted for the event it names (refusals that prove no event are left out)
  const door: QueueApi = {
    async enter(eventId, userId, rpm) {
      try {
        const r = await queue.enter(eventId, userId, rpm);
        metrics.doorOutcome(eventId, r.status);
        funnel.turnedAway(eventId, r.status);
        if (r.status === "admitted") funnel.seen(eventId, userId);
        return r;
      } catch (e) {
        metrics.doorRefused(eventId, e instanceof ApiError ? e.code : "error");
        throw e;
      }
    },
    async poll(eventId, userId) {
      const r = await queue.poll(eventId, userId);
      // told they hold a slot: not a ghost
      if (r.status === "admitted") funnel.seen(eventId, userId);
      return r;
    },
    leave: (eventId, userId) => queue.leave(eventId, userId),
  };
  const botGate = botGateModule(k, { auth, view });
  const users = userBuckets(config.rateLimit);
  metrics.sources.router = new Snapshot(routerEventSource(meter, metrics.routerKnows));
  k.exportLease("router");
  k.lifecycle.start(() => meter.start());
  k.lifecycle.stop(() => meter.stop());

  return (
    new Elysia({ name: "router-role" })
      // per-user limits know ticket holders too (from tickets already verified), at no cost per request
      .use(rateLimit(config.rateLimit, { userOrNull: (h) => tickets.knownUser(h) ?? auth.userOrNull(h) }, users, new Set([ENTER_ROUTE])))
      .onAfterResponse({ as: "global" }, ({ route, set, params }) => {
        if (set.status !== 429 || route !== ENTER_ROUTE) return;
        const id = Number((params as { id?: string })?.id);
        metrics.doorRefused(id, "rate_limited");
        // only for an event the view knows: a made-up id must not create a funnel hash
        if (view.lookup(id)) funnel.turnedAway(id, "rate_limited");
      })
      .use(botGate.routes)
      .use(
        doorRoutes({
          queue: door,
          meter,
          auth,
          view,
          tickets,
          caller: k.caller,
          redis,
          prefix: config.keyPrefix,
          cfg: config.queue,
          // a router without MySQL (split, coupon role elsewhere) asks the coupon process
          persisted: k.mysql ? (id, user) => isPersisted(k.mysql!, id, user) : remotePersisted(config.couponUrl!, config.internalToken!, config.upstreamTimeoutMs),
          onRefused: (id, code) => {
            metrics.doorOutcome(id, code);
            funnel.turnedAway(id, code);
          },
          onWaited: (id, seconds) => metrics.observeWait(id, seconds),
          botCheck: botGate.check,
          users,
        }),
      )
  );
}
