// `bun run bench/botgate-cost.ts [--n=20000]`
// The bot gate's CPU on the server, per operation, in this process (one core): making a challenge,
// verifying a proof (what every gated enter pays before the line), refusing a forged one; a jose
// verification of a new user token for scale. And what the work costs a bot farm: the SHA-256 rate
// of one native core here (what a farm's CPU does; GPUs do far more), per 1,000 entries by difficulty.
import { solveChallenge } from "altcha-lib";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { Redis } from "ioredis";
import { createHash } from "node:crypto";
import { BotGate } from "../modules/botgate/gate";
import { jwtVerify } from "jose";
import { jwtVerifier, signJwt } from "../src/auth";

const n = Number(Bun.argv.find((a) => a.startsWith("--n="))?.split("=")[1] ?? 20000);
const secret = "bench-secret-0123456789abcdef";
const gate = new BotGate(secret, new Redis({ lazyConnect: true }), "bench");

/** CPU µs per call of `fn` over `items` (user + system, this process), after a warm-up. */
async function cpuPer<T>(items: T[], fn: (x: T) => Promise<unknown> | unknown): Promise<number> {
  for (const x of items.slice(0, Math.min(500, items.length))) await fn(x);
  const c0 = process.cpuUsage();
  for (const x of items) await fn(x);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / items.length;
}

const users = Array.from({ length: n }, (_, i) => `u${i}`);
const challengeUs = await cpuPer(users, (u) => gate.challenge(1, u, 1));
const proofs: { user: string; proof: string }[] = [];
for (const u of users) {
  const challenge = await gate.challenge(1, u, 1);
  const solution = await solveChallenge({ challenge, deriveKey });
  proofs.push({ user: u, proof: Buffer.from(JSON.stringify({ challenge, solution })).toString("base64") });
}
let ok = 0;
const verifyUs = await cpuPer(proofs, async (p) => ((await gate.verify(1, p.user, p.proof)).ok ? ok++ : 0));
if (ok < n) throw new Error(`only ${ok} of ${n} proofs verified`);
const forged = proofs.map((p) => ({ user: p.user, proof: p.proof.slice(0, -8) + "AAAAAAA=" }));
const forgedUs = await cpuPer(forged, (p) => gate.verify(1, p.user, p.proof));
const stolen = proofs.map((p, i) => ({ user: proofs[(i + 1) % n]!.user, proof: p.proof }));
const stolenUs = await cpuPer(stolen, (p) => gate.verify(1, p.user, p.proof));
const jwtSecret = "bench-jwt-secret-0123456789abcdef";
const verifyJwt = jwtVerifier({ secret: jwtSecret });
const tokens = users.map((u) => signJwt(jwtSecret, u));
const jwtUs = await cpuPer(tokens, (t) => verifyJwt(t));
const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(jwtSecret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
const joseUs = await cpuPer(tokens, (t) => jwtVerify(t, key, { algorithms: ["HS256"], requiredClaims: ["exp", "sub"] }));

// the farm's side: SHA-256 of salt + nonce + counter (ALTCHA v2's key derivation, cost 1), native
const buf = Buffer.alloc(36);
const t0 = performance.now();
const hashes = 2_000_000;
for (let i = 0; i < hashes; i++) {
  buf.writeUInt32BE(i, 32);
  createHash("sha256").update(buf).digest();
}
const perCoreHps = hashes / ((performance.now() - t0) / 1000);

const r1 = (x: number) => Math.round(x * 10) / 10;
console.log(`n = ${n}, one core of this machine, Bun ${Bun.version}`);
console.log(`| operation | CPU µs |`);
console.log(`|---|---:|`);
console.log(`| make a challenge (GET /challenge, without HTTP) | ${r1(challengeUs)} |`);
console.log(`| verify a good proof (before SET NX) | ${r1(verifyUs)} |`);
console.log(`| refuse a forged proof | ${r1(forgedUs)} |`);
console.log(`| refuse another user's proof | ${r1(stolenUs)} |`);
console.log(`| verify a new user token (src/auth.ts: sync HMAC + jose's claim checks) | ${r1(jwtUs)} |`);
console.log(`| the same with jose's jwtVerify (WebCrypto, as before) | ${r1(joseUs)} |`);
console.log();
console.log(`native SHA-256 (36 bytes) on one core here: ${Math.round(perCoreHps).toLocaleString("en")} hashes/s`);
console.log(`| pow | expected hashes per entry | core-seconds per 1,000 entries | at $0.02 per vCPU-hour |`);
console.log(`|---:|---:|---:|---:|`);
for (const pow of [10, 14, 16, 18, 20, 22, 24]) {
  const coreS = (1000 * 2 ** pow) / perCoreHps;
  console.log(`| ${pow} | ${(2 ** pow).toLocaleString("en")} | ${coreS < 10 ? r1(coreS) : Math.round(coreS).toLocaleString("en")} | $${((coreS / 3600) * 0.02).toFixed(coreS > 3600 ? 2 : 5)} |`);
}
process.exit(0);
