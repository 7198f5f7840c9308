import { UnsecuredJWT } from "jose";
import { createHmac } from "node:crypto";
import { hs256Header, unsignedCopy, USER_ID, type Auth } from "../../src/auth";
import { ApiError } from "../../src/http";

/**
 * The waiting ticket (contract, "Identity"): a token the platform signs for one user in one event,
 * valid until the event ends, so a user whose short-lived shop token expires while waiting keeps
 * their place and can still take their coupon. It also carries what a cheap poll needs: the user's
 * arrival sequence in the line (`seq`, 0 for a user admitted without waiting) and when they joined.
 *
 * HS256 with a key derived from AUTH_JWT_SECRET under its own label, and its own `typ` and `aud`:
 * a ticket never verifies as a user token (other key) nor a user token as a ticket (other key,
 * and typ/aud are checked too).
 */
export const TICKET_TYP = "coupon-ticket+jwt";
export const TICKET_AUD = "coupon-ticket";
// an event without an end still gets tickets that lapse (a user can always enter again for a new one)
const DEFAULT_TTL_MS = 7 * 24 * 3600_000;
// What a cached ticket costs the router, measured (scripts/measure-ticket-cache.ts: 835–1,010 bytes
// of RSS each, 541 of JS heap, at 200k–400k tickets), and what the cache may cost in all: two
// generations of 128k tickets, ~256 MiB at most. Past that many active waiters on one router, the
// extra polls verify their ticket again (one HMAC) instead of growing the process.
const BYTES_PER_TICKET = 1024;
const CACHE_BYTES = 256 * 2 ** 20;
const CACHE_GENERATION = CACHE_BYTES / BYTES_PER_TICKET / 2;

export type TicketClaims = { user: string; eventId: number; seq: number; joinedAt: number; expMs: number };
type Verified = { token: string; claims: TicketClaims };

const b64 = (s: string) => Buffer.from(s).toString("base64url");
const HEADER = b64(JSON.stringify({ alg: "HS256", typ: TICKET_TYP }));

export class Tickets {
  private readonly key: Buffer;
  // Verify once per ticket (a waiter sends the same one with every poll). Two generations make an
  // O(1) approximate LRU: a hit in the old one moves to the new one; when the new one is full the old
  // one is dropped whole. (Evicting a Map's oldest key one by one is not O(1) in JavaScriptCore.)
  // Keyed by the signature (43 characters to hash, not the whole token); a hit counts only if the
  // whole token is the one that was verified.
  private verified = new Map<string, Verified>();
  private older = new Map<string, Verified>();

  constructor(jwtSecret: string) {
    this.key = createHmac("sha256", jwtSecret).update("coupon-ticket-v1").digest();
  }

  /**
   * Signs a ticket: plain HMAC over a header and claims this code builds itself (nothing untrusted
   * goes in; it runs on every enter).
   */
  sign(c: { user: string; eventId: number; seq: number; joinedAt: number; endsAt: number }, now = Date.now()): string {
    const expMs = c.endsAt > now ? c.endsAt : now + DEFAULT_TTL_MS;
    const body = b64(JSON.stringify({ sub: c.user, aud: TICKET_AUD, ev: c.eventId, seq: c.seq, jat: Math.floor(c.joinedAt / 1000), iat: Math.floor(now / 1000), exp: Math.ceil(expMs / 1000) }));
    const sig = createHmac("sha256", this.key).update(`${HEADER}.${body}`).digest("base64url");
    return `${HEADER}.${body}.${sig}`;
  }

  /**
   * The user of a ticket this process has already verified (null for anything else): synchronous
   * and free, for per-user rate limits, which must not run a user-token check on every ticket poll.
   */
  knownUser(header: string | null | undefined, now = Date.now()): string | null {
    const token = ticketIn(header);
    const hit = token ? this.cached(token) : undefined;
    return hit && hit.expMs > now ? hit.user : null;
  }

  /** Whether the header carries something shaped as a ticket (then no user-token check applies). */
  carries(header: string | null | undefined): boolean {
    return ticketIn(header) !== null;
  }

  /** The claims of a ticket verified before (expired or not), without verifying anything. */
  cached(token: string): TicketClaims | undefined {
    const sig = token.slice(token.lastIndexOf(".") + 1);
    let hit = this.verified.get(sig);
    if (!hit) {
      hit = this.older.get(sig);
      if (hit) this.remember(sig, hit);
    }
    return hit && hit.token === token ? hit.claims : undefined;
  }

  private remember(sig: string, v: Verified) {
    if (this.verified.size >= CACHE_GENERATION) {
      this.older = this.verified;
      this.verified = new Map();
    }
    this.verified.set(sig, v);
  }

  /**
   * The claims of a valid, unexpired ticket, or null. The signature is checked as a user token's is
   * (src/auth.ts `hs256Header`: one spelling, HS256, constant-time HMAC, synchronous); the header must
   * carry the ticket's `typ`; jose then validates the claims (`aud`, `exp`, `nbf`, `iat`) as its
   * `jwtVerify` would.
   */
  verify(token: string, now = Date.now()): TicketClaims | null {
    const hit = this.cached(token);
    if (hit) return hit.expMs > now ? hit : null;
    if (token.length > 2048) return null;
    const header = hs256Header(token, this.key);
    if (header?.typ !== TICKET_TYP) return null;
    let claims: TicketClaims;
    try {
      const { payload } = UnsecuredJWT.decode(unsignedCopy(token), { audience: TICKET_AUD, requiredClaims: ["exp", "sub"], currentDate: new Date(now) });
      const { sub, ev, seq, jat, exp } = payload as Record<string, unknown>;
      if (typeof sub !== "string" || !USER_ID.test(sub) || !Number.isSafeInteger(ev) || (ev as number) < 1) return null;
      if (!Number.isSafeInteger(seq) || (seq as number) < 0 || typeof jat !== "number" || typeof exp !== "number") return null;
      claims = { user: sub, eventId: ev as number, seq: seq as number, joinedAt: jat * 1000, expMs: exp * 1000 };
    } catch {
      return null;
    }
    this.remember(token.slice(token.lastIndexOf(".") + 1), { token, claims });
    return claims;
  }
}

/** Who is asking, for one event: a user token, or that event's ticket (then with its place in line). */
export type Caller = { user: string; ticket: TicketClaims | null };

function bearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer ([^\s]+)$/i.exec(header.trim());
  return m ? m[1]! : null;
}

// the first segment of a ticket is always this exact header (tickets are only ever made by `sign`)
const isTicket = (token: string) => token.startsWith(`${HEADER}.`);
const TICKET_BEARER = `Bearer ${HEADER}.`;

/** The ticket in an Authorization header, or null (the usual exact form is checked without a regex). */
function ticketIn(header: string | null | undefined): string | null {
  if (!header) return null;
  // anything after the token (whitespace, junk) stays in it and fails verification: a 401
  if (header.startsWith(TICKET_BEARER)) return header.slice(7);
  const token = bearer(header);
  return token && isTicket(token) ? token : null;
}

/**
 * The "user or ticket for this event" resolver of GET/DELETE …/queue and POST …/issue: a valid
 * ticket of another event is a 403 (the caller is known, the ticket just does not open this
 * event); anything invalid or expired is a 401, as for user tokens.
 */
export function callerResolver(auth: Auth, tickets: Tickets) {
  return (header: string | null | undefined, eventId: number): Caller => {
    const token = ticketIn(header);
    if (token) {
      const t = tickets.verify(token);
      if (!t) throw new ApiError(401, "unauthorized", "invalid or expired ticket");
      if (t.eventId !== eventId) throw new ApiError(403, "wrong_event", "this ticket is for another event");
      return { user: t.user, ticket: t };
    }
    return { user: auth.user(header), ticket: null };
  };
}
export type CallerResolver = ReturnType<typeof callerResolver>;
