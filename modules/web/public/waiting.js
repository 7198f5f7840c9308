import {
  adoptTokenFromUrl,
  announce,
  api,
  BAD_TOKEN,
  eventIdFromPath,
  forgetTicket,
  forgetToken,
  formatCountdown,
  formatDuration,
  formatMoment,
  keepTicket,
  NO_TOKEN,
  OFFLINE,
  serverNow,
  storedTicket,
  userToken,
} from "./common.js";
import { enterWithProof } from "./botgate.js";

await adoptTokenFromUrl();
const id = eventIdFromPath();
const $ = (sel) => document.querySelector(sel);
const message = $("#message");
const progress = $("#progress");
const eventPage = `/events/${id}`;
// the longest line this user has seen, so progress survives a reload of the page
const START_KEY = `coupon.lineStart.${id}`;
// that this tab holds a place, when the server last answered about it, and how long the server
// keeps a silent user's place: to tell a user who lost the place why
const PLACE_KEY = `coupon.place.${id}`;
const RETRY_MS = 2000;

let token = null;
let timer = null;
let clock = null;
let start = Number(sessionStorage.getItem(START_KEY)) || 0;
let shown = null;
let pre = null; // the last pre_queue reply
let grace = null;

const num = (n) => n.toLocaleString("en");
const plural = (n, one, many) => `${num(n)} ${n === 1 ? one : many}`;

function formatEta(seconds) {
  if (seconds === null) return "unknown: waiting for places to free up (nobody is being let in right now)";
  if (seconds < 1) return "any moment now";
  if (seconds < 1.5) return "about 1 second";
  if (seconds < 90) return `about ${Math.round(seconds)} seconds`;
  return `about ${Math.round(seconds / 60)} minutes`;
}

/** The server answered about this user's place: remember when, and say how long it is kept. */
function holdingPlace(body) {
  sessionStorage.setItem(PLACE_KEY, JSON.stringify({ seenAt: Date.now(), grace: body.graceSeconds }));
  $("#grace").hidden = false;
  if (grace === body.graceSeconds) return;
  grace = body.graceSeconds;
  $("#grace").textContent = `You can leave this page for up to ${formatDuration(grace)} and keep your place.`;
}

function showPreQueue(p) {
  pre = p;
  $("#in-line").hidden = true;
  $("#pre-queue").hidden = false;
  $("#leave").textContent = "Leave the pre-queue";
  const chances = `${plural(p.remaining, "coupon", "coupons")} · ${plural(p.preQueued, "person", "people")} in the pre-queue`;
  $("#pre-chances").textContent = p.preQueued > p.remaining ? `${chances}: more people than coupons, so not everyone will get one.` : chances;
  renderPreClock();
}

/** Before the start a countdown; from the start until the places are drawn, says they are being drawn. */
function renderPreClock() {
  clearTimeout(clock);
  if (!pre || $("#pre-queue").hidden) return;
  const left = Date.parse(pre.startsAt) - serverNow();
  const drawing = left <= 0;
  const heading = drawing ? "Drawing the places" : "You are in the pre-queue";
  if ($("#heading").textContent !== heading) $("#heading").textContent = heading;
  const text = drawing
    ? "The event has started: everyone in the pre-queue is getting a place drawn at random, ahead of everyone who comes later. Your place shows here in a moment."
    : `The event starts at ${formatMoment(pre.startsAt)}. Then everyone in the pre-queue gets a place drawn at random, ahead of everyone who comes later: when you joined makes no difference.`;
  if ($("#pre-text").textContent !== text) $("#pre-text").textContent = text;
  $("#pre-countdown").textContent = drawing ? "Drawing…" : `Starts in ${formatCountdown(left)}`;
  if (!drawing) clock = setTimeout(renderPreClock, Math.min(1000 - (serverNow() % 1000) + 5, left + 5));
}

function showWaiting(w) {
  pre = null;
  $("#pre-queue").hidden = true;
  $("#in-line").hidden = false;
  $("#leave").textContent = "Leave the line";
  if ($("#heading").textContent !== "You are in line") $("#heading").textContent = "You are in line";
  if (w.position > start) {
    start = w.position;
    sessionStorage.setItem(START_KEY, String(start));
  }
  // only a change is written, so the live region speaks when the place changes, not at every poll
  if (shown !== w.position) {
    shown = w.position;
    $("#position").textContent = num(w.position);
  }
  // everyone ahead: the line before this user and those holding a slot now
  const ahead = w.position - 1 + w.running;
  $("#chances").textContent = `${plural(w.remaining, "coupon", "coupons")} left · ${plural(ahead, "person", "people")} ahead of you`;
  const odds = $("#odds");
  const warn = ahead >= w.remaining ? "There are as many people ahead of you as coupons left, or more: they may run out before your turn." : "";
  if (odds.textContent !== warn) odds.textContent = warn;
  progress.max = start;
  progress.value = start - w.position;
  progress.setAttribute("aria-valuetext", `${plural(w.position - 1, "person", "people")} ahead of you in line`);
  $("#eta").textContent = formatEta(w.etaSeconds);
}

function stop() {
  clearTimeout(timer);
  clearTimeout(clock);
  sessionStorage.removeItem(START_KEY);
  sessionStorage.removeItem(PLACE_KEY);
}

/** The line is over for this user (or could not be joined): say why and offer the way back. */
function end(heading, text, kind = "error") {
  stop();
  $("#heading").textContent = heading;
  $("#in-line").hidden = true;
  $("#pre-queue").hidden = true;
  $("#grace").hidden = true;
  $("#leave").hidden = true;
  $("#back").hidden = false;
  announce(message, text, kind);
  // the focused Leave button is gone: put focus where the user can go on from
  $("#back").focus();
}

/**
 * Not in the line (404 not_in_queue). Never joined again silently: a user who held a place is told
 * that it is lost and why, and offered to join again, at the back.
 */
function notInLine() {
  const place = JSON.parse(sessionStorage.getItem(PLACE_KEY) ?? "null");
  forgetTicket(id);
  if (!place) end("You are not in the line", "You are not in this event's line. Join it to get a place at the back.", "info");
  else {
    const away = Math.round((Date.now() - place.seenAt) / 1000);
    const why =
      away > place.grace
        ? `You lost your place because the server did not see this page for more than ${formatDuration(place.grace)} (it was away for about ${formatDuration(away >= 120 ? Math.round(away / 60) * 60 : away)}) and the line reached you in the meantime.`
        : "You lost your place: it was given up from another tab or window, or your turn came and ran out while this page was not looking.";
    end("You lost your place", `${why} You can join the line again, at the back.`);
  }
  const rejoin = $("#rejoin");
  rejoin.textContent = place ? "Join the line again" : "Join the line";
  rejoin.hidden = false;
  rejoin.focus();
}

function admitted(a) {
  stop();
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
  if (r.body?.ticket) keepTicket(id, r.body.ticket);
  const s = r.status === 200 || r.status === 202 ? r.body?.status : r.body?.error;
  switch (s) {
    case "pre_queue":
      holdingPlace(r.body);
      showPreQueue(r.body);
      schedule(r.body.pollAfterMs);
      return true;
    case "waiting":
      holdingPlace(r.body);
      showWaiting(r.body);
      schedule(r.body.pollAfterMs);
      return true;
    case "admitted":
      admitted(r.body);
      return true;
    case "not_in_queue":
      notInLine();
      return true;
    case "sold_out":
      end("Sold out", "Sold out: all coupons have been given out. Sorry!");
      return true;
    case "closed":
    case "not_open":
      end("Event closed", "Closed: this event is not taking part any more.");
      return true;
    case "already_issued":
      end("You have this coupon", "Already issued: you already have this event's coupon.", "success");
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

/** Handles a reply that was neither a place nor an end: too eager, or the network or server failed. */
function retry(r) {
  // polled too eagerly (another tab of the same user, say): just wait as long as the server asks
  if (r.status === 429) return schedule(Math.max(300, (r.body?.retryAfter ?? 1) * 1000));
  // a network hiccup or a busy server: keep trying, quickly enough not to lose the place
  const kept = grace ? ` Your place is kept for up to ${formatDuration(grace)}.` : "";
  announce(message, `${r.status === 0 ? OFFLINE : "The service is busy."} Retrying…${kept}`, "retry");
  schedule(RETRY_MS);
}

async function poll() {
  // the ticket, not the shop's token: that one may expire while the user waits
  const ticket = storedTicket(id);
  let r = await api("GET", `/api/events/${id}/queue`, ticket || token);
  if ((r.status === 401 || r.status === 403) && ticket) {
    // a lapsed ticket (or another event's): ask with the user's own token
    forgetTicket(id);
    r = await api("GET", `/api/events/${id}/queue`, token);
  }
  if (apply(r)) {
    if (message.dataset.kind === "retry") announce(message, "");
    return;
  }
  retry(r);
}

async function rejoin() {
  $("#rejoin").hidden = true;
  const r = await enterWithProof(id, token, message);
  if (!apply(r)) return retry(r);
  if (r.status !== 202) return;
  $("#leave").hidden = false;
  $("#back").hidden = true;
  announce(message, r.body.status === "pre_queue" ? "You are in the pre-queue again." : `You joined the line again: place ${num(r.body.position)}.`, "info");
  $("#heading").focus();
}

async function main() {
  if (!id) return;
  $("#back").href = eventPage;
  $("#leave").addEventListener("click", async () => {
    clearTimeout(timer);
    await api("DELETE", `/api/events/${id}/queue`, storedTicket(id) || token);
    stop();
    forgetTicket(id);
    location.assign(eventPage);
  });
  $("#rejoin").addEventListener("click", rejoin);
  // the event's name, and the server's clock for the pre-queue's countdown
  api("GET", `/api/events/${id}`).then((r) => {
    if (r.status !== 200) return;
    $("#event-name").textContent = r.body.name;
    document.title = `Waiting room: ${r.body.name} · massive coupon`;
    renderPreClock();
  });
  token = await userToken();
  if (!token && !storedTicket(id)) return end("Sign-in needed", NO_TOKEN);
  poll();
}

main();
