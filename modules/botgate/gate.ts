import { createChallenge, randomInt, type Challenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { createHmac, timingSafeEqual } from "node:crypto";
import { eventKeys, type RedisClient } from "../../src/redis";

/** How long a challenge may be solved and used (contract: 5 minutes). */
export const CHALLENGE_TTL_S = 300;
/** An X-Bot-Proof longer than this is no payload of ours (ours are about 700 characters). */
const MAX_PROOF_CHARS = 2048;

/** Why a proof was refused (the metric's label); every one is the same 403 bot_check_failed to the client. */
export type BotRefusal = "missing" | "malformed" | "expired" | "mismatch" | "invalid" | "replayed";
export type BotCheck = { ok: true; replayKey: string; ttlMs: number } | { ok: false; reason: BotRefusal };

type Payload = { challenge: Challenge; solution: { counter: number; derivedKey: string } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const HEX32 = /^[0-9a-f]{64}$/;

/** ALTCHA's canonical form of the parameters (keys sorted at every level, undefined left out): what is signed. */
function sortKeys(v: unknown): unknown {
  if (!isObject(v)) return v;
  return Object.fromEntries(
    Object.keys(v)
      .sort()
      .flatMap((k) => (v[k] === undefined ? [] : [[k, sortKeys(v[k])]])),
  );
}

/** Constant-time equality of a hex string with a digest. */
const sameHex = (hex: string, digest: Buffer) => HEX32.test(hex) && timingSafeEqual(Buffer.from(hex, "hex"), digest);

/** The base64 ALTCHA payload as the widget and our solver send it, or null when it is not one. */
function parsePayload(header: string): Payload | null {
  if (header.length > MAX_PROOF_CHARS || !/^[A-Za-z0-9+/=_-]+$/.test(header)) return null;
  let p: unknown;
  try {
    p = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  } catch {
    return null;
  }
  if (!isObject(p) || !isObject(p.challenge) || !isObject(p.solution)) return null;
  const { parameters, signature } = p.challenge;
  if (!isObject(parameters) || typeof signature !== "string" || !/^[0-9a-f]{64}$/.test(signature)) return null;
  if (!isObject(parameters.data)) return null;
  return p as Payload;
}

/**
 * The bot gate (contract, "Bot gate"): ALTCHA proof-of-work challenges bound to one event and one
 * user, signed with a key only the routers hold, single-use across every router (a Redis SET NX
 * per proof, with the challenge's remaining lifetime as its expiry).
 *
 * Difficulty: the challenge is made in ALTCHA's deterministic mode, so the server picks the answer
 * (a counter) and the solver must try every counter up to it. The counter is drawn uniformly from
 * [2^(pow-1), 3·2^(pow-1)): the expected work is 2^pow hashes, never less than half of that (no
 * lucky bot), never more than 1.5× (the page can show honest progress). Verifying costs two HMACs.
 */
export class BotGate {
  private readonly signSecret: string;
  private readonly keySecret: string;

  constructor(
    secret: string,
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    // two keys of their own, derived from the configured one: neither is usable as the other
    this.signSecret = createHmac("sha256", secret).update("altcha challenge signature").digest("hex");
    this.keySecret = createHmac("sha256", secret).update("altcha key signature").digest("hex");
  }

  /** A new challenge for this user at this event, at difficulty `pow` (expected work ≈ 2^pow hashes). */
  challenge(eventId: number, user: string, pow: number, now = Date.now()): Promise<Challenge> {
    const half = 2 ** (pow - 1);
    return createChallenge({
      algorithm: "SHA-256",
      cost: 1,
      counter: half + randomInt(2 * half - 1, 0),
      deriveKey,
      // p: the difficulty, for the pages' progress bar (signed with the rest)
      data: { e: eventId, u: user, p: pow },
      expiresAt: Math.floor(now / 1000) + CHALLENGE_TTL_S,
      hmacSignatureSecret: this.signSecret,
      hmacKeySignatureSecret: this.keySecret,
    });
  }

  /**
   * Checks a proof for this event and user, with no I/O: malformed, expired, made for another event
   * or user, forged or wrongly solved proofs are refused here. A proof that passes still has to be
   * used up (`spend`), which refuses one that was used before.
   */
  async verify(eventId: number, user: string, header: string | null | undefined, now = Date.now()): Promise<BotCheck> {
    if (!header) return { ok: false, reason: "missing" };
    const p = parsePayload(header);
    if (!p) return { ok: false, reason: "malformed" };
    const { data, expiresAt } = p.challenge.parameters;
    // not trusted before the signature is checked, but a mismatch is a refusal either way (and cheaper)
    if (data?.e !== eventId || data?.u !== user) return { ok: false, reason: "mismatch" };
    if (typeof expiresAt !== "number" || expiresAt * 1000 <= now) return { ok: false, reason: "expired" };
    if (!this.solved(p)) return { ok: false, reason: "invalid" };
    return { ok: true, replayKey: `${this.prefix}:{${eventId}}:botproof:${p.challenge.signature}`, ttlMs: expiresAt * 1000 - now + 1000 };
  }

  /**
   * ALTCHA v2's verification of a deterministic challenge (altcha-lib's verifySolution, the path with
   * a key signature: the challenge's HMAC, then the HMAC of the derived key), done with node:crypto's
   * synchronous HMAC: altcha-lib imports a WebCrypto key for every HMAC, which costs several times
   * more CPU per enter. botgate.test.ts holds the two to the same verdicts.
   */
  private solved(p: Payload): boolean {
    const { parameters, signature } = p.challenge;
    const derivedKey = p.solution.derivedKey;
    if (typeof parameters.keySignature !== "string" || typeof derivedKey !== "string" || !HEX32.test(derivedKey)) return false;
    const sig = createHmac("sha256", this.signSecret).update(JSON.stringify(sortKeys(parameters))).digest();
    if (!sameHex(signature!, sig)) return false;
    return sameHex(parameters.keySignature, createHmac("sha256", this.keySecret).update(Buffer.from(derivedKey, "hex")).digest());
  }

  /** Uses a verified proof up: true the first time, on any router; false for a replay. */
  async spend(check: Extract<BotCheck, { ok: true }>): Promise<boolean> {
    return (await this.redis.set(check.replayKey, "1", "PX", Math.max(1000, Math.ceil(check.ttlMs)), "NX")) === "OK";
  }

  /**
   * Whether the user is already in the event's line or pre-queue, holds a live running slot or a
   * coupon: they enter again without a new proof (contract). Three reads, one round trip.
   */
  async known(eventId: number, user: string, now = Date.now()): Promise<boolean> {
    const k = eventKeys(this.prefix, eventId);
    const [place, slot, issued] = await Promise.all([this.redis.zscore(k.waiting, user), this.redis.zscore(k.running, user), this.redis.hexists(k.issued, user)]);
    return place !== null || Number(slot) > now || issued === 1;
  }
}
