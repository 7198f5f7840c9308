import {
  adoptTokenFromUrl,
  announce,
  api,
  BAD_TOKEN,
  eventIdFromPath,
  forgetTicket,
  forgetToken,
  formatCountdown,
  formatMoment,
  formatTime,
  keepTicket,
  NO_TOKEN,
  OFFLINE,
  serverNow,
  storedTicket,
  storedToken,
  userToken,
} from "./common.js";
import { enterWithProof } from "./botgate.js";

await adoptTokenFromUrl();
const id = eventIdFromPath();
const $ = (sel) => document.querySelector(sel);
const button = $("#get-coupon");
const result = $("#result");
const REFRESH_MS = 2000;

const STATUS_TEXT = { open: "Open", paused: "Paused", sold_out: "Sold out", closed: "Closed", cancelled: "Cancelled" };
const MESSAGES = {
  issued: ["Coupon issued: it is yours.", "success"],
  already_issued: ["Already issued: you already have this event's coupon.", "success"],
  sold_out: ["Sold out: all coupons have been given out.", "error"],
  closed: ["Not open: this event has closed.", "error"],
  paused: ["Paused for a moment: you can still join the line and keep your place.", "info"],
  cancelled: ["Cancelled: this event will not take place.", "error"],
  not_open: ["Not open: this event is not taking part right now.", "error"],
  event_not_found: ["There is no such event. Check the link you were sent.", "error"],
  not_admitted: ["Your turn ran out before the coupon was taken. Press Get coupon to try again.", "error"],
  unauthorized: [BAD_TOKEN, "error"],
  bot_check_failed: ["The check that you are not a bot did not finish in time. Please press Get coupon again.", "error"],
  busy: ["The service is busy. Please try again in a moment.", "error"],
  offline: [OFFLINE, "error"],
};

let event = null;
let busy = false;
let done = false; // this user has the coupon
let said = null; // the phase last explained in the result region
let timer = null;

const at = (iso) => (iso ? Date.parse(iso) : null);

/**
 * The event's phase by the server's clock (offset measured from `serverTime`): the page turns at
 * the start, and at the pre-queue's opening, by a timer, not at the next refresh. Past the start a
 * "scheduled" event is open as far as the page goes; the server decides anyway.
 */
function phase() {
  if (!event) return null;
  if (event.status !== "scheduled") return event.status;
  const now = serverNow();
  if (now >= at(event.startsAt)) return "open";
  const opens = at(event.queueOpensAt);
  return opens !== null && now >= opens ? "pre_queue" : "scheduled";
}

function say(kind) {
  const [text, tone] = MESSAGES[kind];
  announce(result, text, tone);
}

function renderClock(p) {
  const countdown = $("#countdown");
  const note = $("#pre-note");
  const now = serverNow();
  const starts = at(event.startsAt);
  const opens = at(event.queueOpensAt);
  countdown.hidden = p !== "scheduled" && p !== "pre_queue";
  if (!countdown.hidden)
    countdown.textContent =
      p === "scheduled" && opens !== null ? `Pre-queue opens in ${formatCountdown(opens - now)} · starts in ${formatCountdown(starts - now)}` : `Starts in ${formatCountdown(starts - now)}`;
  note.hidden = opens === null || countdown.hidden;
  if (!note.hidden)
    note.textContent =
      `Join the pre-queue from ${formatMoment(event.queueOpensAt)} until the start. At ${formatMoment(event.startsAt)} everyone in it gets a place ` +
      "drawn at random, ahead of everyone who comes later: joining early gives no better place, and being near the servers no advantage.";
}

function render() {
  const p = phase();
  // a paused event still takes people into its line (nobody is let through until it resumes)
  button.disabled = done || !["open", "paused", "pre_queue"].includes(p);
  button.textContent = p === "pre_queue" ? "Join the pre-queue" : "Get coupon";
  // while a request runs the button keeps its focus but does nothing
  button.setAttribute("aria-disabled", String(busy));
  if (!event) return;
  document.title = `${event.name} · massive coupon`;
  $("#event-id").textContent = `#${event.id}`;
  $("#event-name").textContent = event.name;
  const badge = $("#event-status");
  badge.textContent = p === "scheduled" ? `Opens ${formatMoment(event.startsAt)}` : p === "pre_queue" ? `Pre-queue open · starts ${formatMoment(event.startsAt)}` : STATUS_TEXT[p];
  badge.dataset.status = p === "pre_queue" ? "scheduled" : p;
  $("#remaining").textContent = event.remaining.toLocaleString("en");
  $("#stock").textContent = event.stock.toLocaleString("en");
  $("#coupons-word").textContent = event.stock === 1 ? "coupon" : "coupons";
  const meter = $("#stock-meter");
  meter.max = event.stock;
  meter.value = event.remaining;
  renderClock(p);
  if (done || said === p) return;
  // explain, once per change, why the button cannot be used, or that it now can
  if (p === "scheduled")
    announce(result, event.queueOpensAt ? `Not open yet: the pre-queue opens at ${formatMoment(event.queueOpensAt)}.` : `Not open yet: the event opens at ${formatMoment(event.startsAt)}.`, "info");
  else if (p === "pre_queue") announce(result, "The pre-queue is open: press Join the pre-queue.", said ? "success" : "info");
  else if (p !== "open") say(["sold_out", "paused", "cancelled"].includes(p) ? p : "closed");
  else if (said) announce(result, "Open now: press Get coupon.", "success");
  said = p;
}

/** Re-renders at every second of the server's clock, and exactly at the pre-queue's opening and the start. */
function tick() {
  clearTimeout(timer);
  if (event) render();
  const now = serverNow();
  let next = 1000 - (now % 1000) + 5;
  for (const b of [at(event?.queueOpensAt), at(event?.startsAt)]) if (b !== null && b > now) next = Math.min(next, b - now + 5);
  timer = setTimeout(tick, next);
}

async function refresh() {
  const r = await api("GET", `/api/events/${id}`);
  if (r.status === 200) event = r.body;
  else if (r.status === 404) {
    $("#event-name").textContent = "Event not found";
    say("event_not_found");
    return false;
  }
  tick();
  return true;
}

/** The winner's code, with a button that copies it. */
function showCode(code) {
  if (!code) return;
  $("#coupon-code").textContent = code;
  $("#my-coupon").hidden = false;
}

$("#copy-code").addEventListener("click", async () => {
  const code = $("#coupon-code").textContent;
  try {
    await navigator.clipboard.writeText(code);
    announce($("#copy-status"), "Copied to the clipboard.", "success");
  } catch {
    // no clipboard access (an old browser, a denied permission): select it for a manual copy
    getSelection().selectAllChildren($("#coupon-code"));
    announce($("#copy-status"), "Selected: copy it with your keyboard or menu.", "info");
  }
});

/** The user's coupon for this event, if any (its code shows on the page). */
async function myCoupon(token) {
  const c = await api("GET", `/api/events/${id}/coupon`, token);
  return c.status === 200 && c.body.issued ? c.body : null;
}

/** Maps a reply of enter or issue to a message kind. */
function outcome(r) {
  if (r.status === 201) {
    showCode(r.body?.code);
    return "issued";
  }
  if (r.status === 0) return "offline";
  if (r.status === 401) return "unauthorized";
  return MESSAGES[r.body?.error] ? r.body.error : "busy";
}

async function attempt(token, retried = false) {
  // back from the waiting room: the ticket takes the coupon, whatever became of the shop's token
  const ticket = retried || phase() === "pre_queue" ? null : storedTicket(id);
  if (ticket) {
    const issued = await api("POST", `/api/events/${id}/issue`, ticket);
    if (issued.status === 0 || issued.status === 201 || ["already_issued", "sold_out", "not_open", "event_not_found"].includes(issued.body?.error)) return outcome(issued);
    // no live slot (any more): enter again below; a ticket that no longer serves is dropped
    if (issued.body?.error !== "not_admitted") forgetTicket(id);
  }
  if (!token) return null;
  const entered = await enterWithProof(id, token, result);
  keepTicket(id, entered.body?.ticket);
  if (entered.status === 202) return "waiting";
  if (entered.status !== 200) return outcome(entered);
  const issued = await api("POST", `/api/events/${id}/issue`, entered.body?.ticket ?? token);
  // the running slot can lapse between the two calls: enter again once (maybe into the line)
  if (issued.status === 403 && !retried) return attempt(token, true);
  return outcome(issued);
}

async function getCoupon() {
  if (busy) return;
  busy = true;
  render();
  announce(result, phase() === "pre_queue" ? "Joining the pre-queue…" : "Getting your coupon…");
  const token = await userToken();
  const kind = await attempt(token);
  busy = false;
  if (kind === "waiting") {
    location.assign(`/events/${id}/waiting`);
    return;
  }
  if (kind === null) announce(result, NO_TOKEN, "error");
  else say(kind);
  if (kind === "unauthorized") forgetToken();
  if (kind === "issued" || kind === "already_issued") done = true;
  if (kind === "already_issued") showCode((await myCoupon(token))?.code);
  if (kind === "sold_out") said = "sold_out";
  await refresh();
}

async function main() {
  if (!id || !(await refresh())) return;
  button.addEventListener("click", getCoupon);
  setInterval(() => document.visibilityState === "visible" && refresh(), REFRESH_MS);

  // someone who already has the coupon sees so at once
  const token = storedToken();
  if (token) {
    const mine = await myCoupon(token);
    if (mine) {
      done = true;
      render();
      say("already_issued");
      showCode(mine.code);
      return;
    }
  }
  // back from the waiting room: the user holds a running slot until expiresAt
  const admittedUntil = sessionStorage.getItem(`coupon.admitted.${id}`);
  if (admittedUntil) {
    sessionStorage.removeItem(`coupon.admitted.${id}`);
    if (phase() === "open") {
      said = "open";
      announce(result, `It is your turn! Press Get coupon before ${formatTime(admittedUntil)}.`, "success");
      button.focus();
    }
  }
}

main();
