// The bot gate on the pages (contract, "Bot gate"): when an enter is refused with bot_check_failed,
// fetch a challenge, solve it in Web Workers (botgate-worker.js, ALTCHA's solver) while a progress
// bar shows how far the work has come, and enter again with the proof in X-Bot-Proof.

import { t } from "./i18n.js";

const WORKERS = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
// a challenge lives 5 minutes: a device that cannot finish well within that gives up and says so
const GIVE_UP_MS = 4 * 60_000;

async function call(method, path, token, headers = {}) {
  try {
    const res = await fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...headers }, cache: "no-store" });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
}

/** The progress bar, shown before `anchor` while the work runs. */
function progressBar(anchor) {
  const box = document.createElement("div");
  box.className = "botgate";
  box.setAttribute("role", "status");
  const label = document.createElement("span");
  label.className = "progress-label";
  label.textContent = t("botgate.checking");
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", t("botgate.label"));
  box.append(label, bar);
  anchor.before(box);
  return {
    set(fraction) {
      const pct = Math.min(99, Math.floor(fraction * 100));
      bar.value = pct;
      label.textContent = t("botgate.progress", pct);
    },
    remove: () => box.remove(),
  };
}

/**
 * Solves a challenge with every worker on its own share of the counters. The answer lies below
 * 1.5 × 2^pow (modules/botgate/gate.ts), so the hashes tried over that bound is honest progress.
 */
export function solve(challenge, onProgress = () => {}) {
  const pow = Number(challenge.parameters?.data?.p) || 16;
  const bound = 3 * 2 ** (pow - 1);
  const tried = new Array(WORKERS).fill(0);
  const workers = [];
  return new Promise((resolve) => {
    const finish = (solution) => {
      clearTimeout(timer);
      for (const w of workers) w.terminate();
      resolve(solution);
    };
    const timer = setTimeout(() => finish(null), GIVE_UP_MS);
    for (let i = 0; i < WORKERS; i++) {
      const w = new Worker("/assets/botgate-worker.js", { type: "module" });
      workers.push(w);
      w.onmessage = ({ data }) => {
        if (data.type === "progress") {
          tried[i] = data.tried;
          onProgress(tried.reduce((a, b) => a + b, 0) / bound);
        } else if (data.type === "done" && data.solution) finish(data.solution);
        else if (data.type === "error") finish(null);
      };
      w.onerror = () => finish(null);
      w.postMessage({ challenge, start: i, step: WORKERS });
    }
  });
}

/**
 * POST /enter, with a proof of work when the event asks for one. Returns the reply as common.js's
 * api() does ({status, body}); a proof that could not be made leaves the bot_check_failed reply.
 */
export async function enterWithProof(id, token, anchor) {
  const path = `/api/events/${id}/enter`;
  const first = await call("POST", path, token);
  if (first.status !== 403 || first.body?.error !== "bot_check_failed") return first;
  const c = await call("GET", `/api/events/${id}/challenge`, token);
  if (c.status !== 200) return c.body?.error === "no_bot_gate" ? call("POST", path, token) : first;
  const bar = progressBar(anchor);
  try {
    const solution = await solve(c.body, (f) => bar.set(f));
    if (!solution) return first;
    const proof = btoa(JSON.stringify({ challenge: c.body, solution }));
    return await call("POST", path, token, { "x-bot-proof": proof });
  } finally {
    bar.remove();
  }
}
