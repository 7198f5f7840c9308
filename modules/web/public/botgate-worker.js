// The bot gate's solver, in a Web Worker so the page stays responsive: ALTCHA's own solveChallenge
// (served by this process at /assets/vendor/altcha.js), every `step`-th counter from `start`, with
// a count of the hashes tried posted every ~100 ms for the progress bar.
import { sha, solveChallenge } from "/assets/vendor/altcha.js";

let controller = null;

self.onmessage = async ({ data }) => {
  if (data.type === "abort") {
    controller?.abort();
    return;
  }
  controller = new AbortController();
  let tried = 0;
  let reported = performance.now();
  // ALTCHA's SHA-256 key derivation, counted
  const deriveKey = async (parameters, salt, password) => {
    tried++;
    const now = performance.now();
    if (now - reported > 100) {
      reported = now;
      self.postMessage({ type: "progress", tried });
    }
    return sha.deriveKey(parameters, salt, password);
  };
  try {
    const solution = await solveChallenge({ challenge: data.challenge, deriveKey, controller, counterStart: data.start, counterStep: data.step, timeout: 0 });
    self.postMessage({ type: "done", solution, tried });
  } catch (e) {
    self.postMessage({ type: "error", message: String(e?.message ?? e) });
  }
};
