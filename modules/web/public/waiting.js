import { adoptTokenFromUrl, announce, api, BAD_TOKEN, eventIdFromPath, forgetToken, NO_TOKEN, OFFLINE, userToken } from "./common.js";

await adoptTokenFromUrl();
const id = eventIdFromPath();
const $ = (sel) => document.querySelector(sel);
const message = $("#message");
const progress = $("#progress");
const eventPage = `/events/${id}`;
// the longest line this user has seen, so progress survives a reload of the page
const START_KEY = `coupon.lineStart.${id}`;
const RETRY_MS = 2000;

let token = null;
let timer = null;
let start = Number(sessionStorage.getItem(START_KEY)) || 0;
let shown = null;

function formatEta(seconds) {
  if (seconds < 1) return "any moment now";
  if (seconds < 1.5) return "about 1 second";
  if (seconds < 90) return `about ${Math.round(seconds)} seconds`;
  return `about ${Math.round(seconds / 60)} minutes`;
}

function showWaiting(w) {
  if (w.position > start) {
    start = w.position;
    sessionStorage.setItem(START_KEY, String(start));
  }
  // only a change is written, so the live region speaks when the place changes, not at every poll
  if (shown !== w.position) {
    shown = w.position;
    $("#position").textContent = w.position.toLocaleString("en");
  }
  const ahead = w.position - 1;
  progress.max = start;
  progress.value = start - w.position;
  progress.setAttribute("aria-valuetext", `${ahead.toLocaleString("en")} ${ahead === 1 ? "person" : "people"} ahead of you`);
  $("#eta").textContent = formatEta(w.etaSeconds);
}

/** The line is over for this user (or could not be joined): say why and offer the way back. */
function end(heading, text) {
  clearTimeout(timer);
  sessionStorage.removeItem(START_KEY);
  $("#heading").textContent = heading;
  $("#in-line").hidden = true;
  $("#leave").hidden = true;
  $("#back").hidden = false;
  announce(message, text, "error");
  // the focused Leave button is gone: put focus where the user can go on from
  $("#back").focus();
}

function admitted(a) {
  clearTimeout(timer);
  sessionStorage.removeItem(START_KEY);
  sessionStorage.setItem(`coupon.admitted.${id}`, a.expiresAt);
  announce(message, "It is your turn! Taking you back to the event…", "success");
  // replace: Back from the event page should not land in a line the user already left
  location.replace(eventPage);
}

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(poll, ms);
}

/** Applies a reply of poll or enter; false when it was neither a place in line nor an end. */
function apply(r) {
  const s = r.status === 200 || r.status === 202 ? r.body?.status : r.body?.error;
  switch (s) {
    case "waiting":
      showWaiting(r.body);
      schedule(r.body.pollAfterMs);
      return true;
    case "admitted":
      admitted(r.body);
      return true;
    case "sold_out":
      end("Sold out", "Sold out: all coupons have been given out. Sorry!");
      return true;
    case "closed":
    case "not_open":
      end("Event closed", "Closed: this event is not taking part any more.");
      return true;
    case "already_issued":
      end("You have this coupon", "Already issued: you already have this event's coupon.");
      return true;
    case "event_not_found":
      end("Event not found", "There is no such event. Check the link you were sent.");
      return true;
  }
  if (r.status === 401) {
    forgetToken();
    end("Sign-in needed", BAD_TOKEN);
    return true;
  }
  return false;
}

async function poll() {
  let r = await api("GET", `/api/events/${id}/queue`, token);
  const rejoin = r.body?.error === "not_in_queue";
  // opened directly, or dropped after the page was asleep too long: take a place (at the back)
  if (rejoin) r = await api("POST", `/api/events/${id}/enter`, token);
  if (apply(r)) {
    if (rejoin && r.status === 202) announce(message, "You were not in line, so you have joined it now.", "info");
    else if (message.dataset.kind === "retry") announce(message, "");
    return;
  }
  // polled too eagerly (another tab of the same user, say): just wait as long as the server asks
  if (r.status === 429) return schedule(Math.max(300, (r.body?.retryAfter ?? 1) * 1000));
  // a network hiccup or a busy server: keep trying, quickly enough not to lose the place
  announce(message, r.status === 0 ? OFFLINE + " Retrying…" : "The service is busy. Retrying…", "retry");
  schedule(RETRY_MS);
}

async function main() {
  if (!id) return;
  $("#back").href = eventPage;
  $("#leave").addEventListener("click", async () => {
    clearTimeout(timer);
    await api("DELETE", `/api/events/${id}/queue`, token);
    sessionStorage.removeItem(START_KEY);
    location.assign(eventPage);
  });
  api("GET", `/api/events/${id}`).then((r) => {
    if (r.status !== 200) return;
    $("#event-name").textContent = r.body.name;
    document.title = `Waiting room: ${r.body.name} · massive coupon`;
  });
  token = await userToken();
  if (!token) return end("Sign-in needed", NO_TOKEN);
  poll();
}

main();
