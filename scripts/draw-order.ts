// Recomputes a pre-queue draw from its published seed and the list of pre-queued user ids
// (docs/how-it-works.md: auditing the draw). Prints the ids in drawn order, first place first:
//   bun scripts/draw-order.ts <seed> < users.txt        (one user id a line, any order)
// Standalone on purpose, with nothing but node:crypto, so it checks the server rather than sharing
// its code: place order = ascending HMAC-SHA256(key = the seed's 32 bytes, message = the user id in
// UTF-8), digests compared as lowercase hex.
import { createHmac } from "node:crypto";

const seed = process.argv[2] ?? "";
if (!/^[0-9a-f]{64}$/.test(seed)) {
  console.error("usage: bun scripts/draw-order.ts <seed: 64 hex digits> < users.txt (one user id a line)");
  process.exit(2);
}
const key = Buffer.from(seed, "hex");
const users = (await Bun.stdin.text()).split("\n").map((l) => l.trim()).filter(Boolean);
const keyed = users.map((user) => ({ user, h: createHmac("sha256", key).update(user, "utf8").digest("hex") }));
keyed.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
console.log(keyed.map((k) => k.user).join("\n"));
