import {
  adoptTokenFromUrl,
  announce,
  api,
  eventIdFromPath,
  forgetTicket,
  forgetToken,
  formatCountdown,
  formatMoment,
  keepTicket,
  serverNow,
  shopLink,
  showBrand,
  storedTicket,
  storedToken,
  userToken,
} from "./common.js";
import { enterWithProof } from "./botgate.js";
import { dateTimeOf, fill, num, t, timeOf, zoneOf } from "./i18n.js";

await adoptTokenFromUrl();
const id = eventIdFromPath();
const $ = (sel) => document.querySelector(sel);
const button = $("#get-coupon");
const result = $("#result");
const REFRESH_MS = 2000;
// handed over by the waiting room: the running slot's end (manual events) or the coupon issued on turn
const ADMITTED_KEY = `coupon.admitted.${id}`;
const ISSUED_KEY = `coupon.issued.${id}`;

const TONE = { issued: "success", already_issued: "success", paused: "info" };
const say = (kind) => announce(result, t(`result.${kind}`), TONE[kind] ?? "error");

let event = null;
let busy = false;
let mine = null; // this user's coupon {code, validUntil}
let slotUntil = null; // ms: this user holds a running slot until then (by the server's clock)
let lapsed = null; // ISO: the slot ran out then, before the coupon was taken
let said = null; // the phase last explained in the result region
let timer = null;
let heardAt = null; // Date.now() of the last answer about the event; the stock shown is from then
let refreshFailing = false;

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

function renderClock(p) {
  const countdown = $("#countdown");
  const note = $("#pre-note");
  const now = serverNow();
  const starts = at(event.startsAt);
  const opens = at(event.queueOpensAt);
  countdown.hidden = p !== "scheduled" && p !== "pre_queue";
  if (!countdown.hidden)
    countdown.textContent =
      p === "scheduled" && opens !== null ? t("event.countdownBoth", formatCountdown(opens - now), formatCountdown(starts - now)) : t("event.countdownStart", formatCountdown(starts - now));
  note.hidden = opens === null || countdown.hidden;
  if (!note.hidden) note.textContent = t("event.preNote", formatMoment(event.queueOpensAt), formatMoment(event.startsAt));
}

/** The running slot's countdown; when it runs out the user is told so, never sent anywhere silently. */
function renderSlot() {
  const slot = $("#slot");
  slot.hidden = slotUntil === null || !!mine;
  if (slot.hidden) return;
  const left = slotUntil - serverNow();
  if (left > 0) slot.textContent = t("event.slotLeft", formatCountdown(left));
  else lapse();
}

function lapse() {
  const until = slotUntil;
  slotUntil = null;
  lapsed = new Date(until).toISOString();
  sessionStorage.removeItem(ADMITTED_KEY);
  $("#slot").hidden = true;
  announce(result, t("event.lapsed", formatMoment(lapsed)), "error");
  $("#lapsed-actions").hidden = false;
  $("#take-back").hidden = false;
  $("#rejoin").hidden = true;
  render();
}

function render() {
  const p = phase();
  // a paused event still takes people into its line (nobody is let through until it resumes)
  button.disabled = !!mine || !!lapsed || !["open", "paused", "pre_queue"].includes(p);
  button.textContent = t(p === "pre_queue" ? "event.joinPreQueue" : "event.getCoupon");
  // while a request runs the button keeps its focus but does nothing
  button.setAttribute("aria-disabled", String(busy));
  if (!event) return;
  showBrand(event.brand, event.name);
  $("#event-id").textContent = `#${event.id}`;
  $("#event-name").textContent = event.name;
  const badge = $("#event-status");
  badge.textContent = p === "scheduled" ? t("status.opens", formatMoment(event.startsAt)) : p === "pre_queue" ? t("status.preQueue", formatMoment(event.startsAt)) : t(`status.${p}`);
  badge.dataset.status = p === "pre_queue" ? "scheduled" : p;
  const notice = $("#notice");
  notice.hidden = !event.message;
  if (event.message) notice.textContent = t("event.notice", event.brand?.shopName ?? t("site.organiser"), event.message);
  fill($("#stock-line"), t("event.stockLine", event.stock), { remaining: $("#remaining"), stock: $("#stock") });
  $("#remaining").textContent = num(event.remaining);
  $("#stock").textContent = num(event.stock);
  const meter = $("#stock-meter");
  meter.max = event.stock;
  meter.value = event.remaining;
  $("#claim-note").hidden = event.claim !== "on_turn" || !!mine;
  $("#claim-note").textContent = t("event.onTurnNote");
  renderClock(p);
  renderSlot();
  renderStale();
  if (mine || lapsed || slotUntil !== null || said === p) return;
  // explain, once per change, why the button cannot be used, or that it now can
  if (p === "scheduled") announce(result, event.queueOpensAt ? t("event.notYetPre", formatMoment(event.queueOpensAt)) : t("event.notYet", formatMoment(event.startsAt)), "info");
  else if (p === "pre_queue") announce(result, t("event.preOpen"), said ? "success" : "info");
  else if (p !== "open") say(["sold_out", "paused", "cancelled"].includes(p) ? p : "closed");
  else if (said) announce(result, t("event.openNow"), "success");
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

/** After a failed refresh the stock is marked as old: since when, not as live. */
function renderStale() {
  const el = $("#event-stale");
  el.hidden = !refreshFailing || heardAt === null;
  $(".stock").classList.toggle("is-stale", !el.hidden);
  if (!el.hidden) el.textContent = t("event.stale", Math.round((Date.now() - heardAt) / 1000), timeOf(new Date(heardAt)));
}

async function refresh() {
  const r = await api("GET", `/api/events/${id}`);
  refreshFailing = r.status === 0 || r.status >= 500;
  if (r.status === 200) {
    event = r.body;
    heardAt = Date.now();
  } else if (r.status === 404) {
    $("#event-name").textContent = t("event.notFound");
    say("event_not_found");
    return false;
  }
  tick();
  return true;
}

/** The winner's code, how long it is valid, and the way back to the shop. */
function showCode(coupon) {
  if (!coupon?.code) return;
  mine = coupon;
  slotUntil = null;
  lapsed = null;
  sessionStorage.removeItem(ADMITTED_KEY);
  $("#lapsed-actions").hidden = true;
  $("#coupon-code").textContent = coupon.code;
  const until = coupon.validUntil ?? event?.couponValidUntil ?? null;
  $("#validity").textContent = until ? t("event.validUntil", dateTimeOf(new Date(until)), zoneOf(until)) : t("event.noExpiry");
  $("#use-at-shop").hidden = !shopLink($("#use-at-shop"), event?.brand, t("event.useAtShop", event?.brand?.shopName));
  $("#my-coupon").hidden = false;
  render();
}

$("#copy-code").addEventListener("click", async () => {
  const code = $("#coupon-code").textContent;
  try {
    await navigator.clipboard.writeText(code);
    announce($("#copy-status"), t("event.copied"), "success");
  } catch {
    // no clipboard access (an old browser, a denied permission): select it for a manual copy
    getSelection().selectAllChildren($("#coupon-code"));
    announce($("#copy-status"), t("event.selected"), "info");
  }
});

/** The user's coupon for this event, if any: with the shop's token, else (token gone) through the waiting ticket. */
async function myCoupon(token) {
  if (token) {
    const c = await api("GET", `/api/events/${id}/coupon`, token);
    if (c.status === 200) return c.body.issued ? { code: c.body.code, validUntil: c.body.validUntil ?? null } : null;
  }
  const ticket = storedTicket(id);
  if (!ticket) return null;
  const q = await api("GET", `/api/events/${id}/queue`, ticket);
  return q.body?.status === "issued" ? q.body : null;
}

/** Maps a refusal or failure to a message kind. */
function outcome(r) {
  if (r.status === 0) return "offline";
  if (r.status === 401) return "unauthorized";
  if (r.status === 429) return "rate_limited";
  const known = ["already_issued", "sold_out", "not_open", "event_not_found", "line_full", "not_admitted", "outcome_unknown", "bot_check_failed"];
  return known.includes(r.body?.error) ? r.body.error : "busy";
}

async function issue(credential) {
  const r = await api("POST", `/api/events/${id}/issue`, credential);
  if (r.status === 201) {
    showCode({ code: r.body.code, validUntil: r.body.validUntil ?? null });
    return "issued";
  }
  return outcome(r);
}

async function attempt(token) {
  // holding a slot (back from the waiting room): the ticket takes the coupon, whatever became of the shop's token
  const ticket = storedTicket(id);
  if (slotUntil !== null && ticket) return issue(ticket);
  if (!token) return "no_token";
  const entered = await enterWithProof(id, token, result);
  keepTicket(id, entered.body?.ticket);
  if (entered.status === 202) return "waiting";
  if (entered.status !== 200) return outcome(entered);
  // an on_turn event: entering with nobody ahead is the coupon itself
  if (entered.body?.status === "issued") {
    showCode(entered.body);
    return "issued";
  }
  return issue(entered.body?.ticket ?? token);
}

async function getCoupon() {
  if (busy) return;
  busy = true;
  render();
  announce(result, t(phase() === "pre_queue" ? "event.joining" : "event.getting"));
  const token = await userToken();
  const kind = await attempt(token);
  busy = false;
  if (kind === "waiting") return location.assign(`/events/${id}/waiting`);
  // the slot ran out before the press reached the server: say so and offer the turn back
  if (kind === "not_admitted" && slotUntil !== null) return lapse();
  say(kind);
  if (kind === "unauthorized") forgetToken();
  if (kind === "already_issued") showCode(await myCoupon(token));
  if (kind === "sold_out") said = "sold_out";
  await refresh();
}

/**
 * After a lapsed slot: ask the server where the user stands (a poll never makes a new place). A
 * server that keeps the front answers admitted (a new slot) or waiting (near the front); a place
 * that is gone is said to be gone, and joining again (at the back) is the user's choice.
 */
async function takeBack() {
  const token = await userToken();
  const r = await api("GET", `/api/events/${id}/queue`, storedTicket(id) || token);
  keepTicket(id, r.body?.ticket);
  const state = r.status === 200 ? r.body?.status : r.body?.error;
  if (state === "admitted") return admitted(r.body.expiresAt, r.body.lapsedAt ?? lapsed);
  if (state === "waiting" || state === "pre_queue") return location.assign(`/events/${id}/waiting`);
  if (state === "issued") return showCode(r.body);
  if (state === "not_in_queue") {
    forgetTicket(id);
    announce(result, t("event.placeGone"), "error");
    $("#take-back").hidden = true;
    $("#rejoin").hidden = false;
    $("#rejoin").focus();
    return;
  }
  if (state === "sold_out" || state === "closed") {
    $("#lapsed-actions").hidden = true;
    return say(state);
  }
  say(outcome(r));
}

/**
 * The user holds a running slot until `expiresAt`: count it down and put the focus on the button. A
 * turn given again after one ran out (`lapsedAt`) says so.
 */
function admitted(expiresAt, lapsedAt = null) {
  slotUntil = at(expiresAt);
  lapsed = null;
  said = "open";
  $("#lapsed-actions").hidden = true;
  render();
  const text = lapsedAt ? t("event.turnAgain", formatMoment(lapsedAt), formatMoment(expiresAt)) : t("event.yourTurn", formatMoment(expiresAt));
  announce(result, text, "success");
  button.focus();
}

async function main() {
  if (!id || !(await refresh())) return;
  button.addEventListener("click", getCoupon);
  $("#take-back").addEventListener("click", takeBack);
  $("#rejoin").addEventListener("click", () => {
    lapsed = null;
    $("#lapsed-actions").hidden = true;
    getCoupon();
  });
  setInterval(() => document.visibilityState === "visible" && refresh(), REFRESH_MS);
  // back from a locked phone or another tab: the countdowns catch up at once
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && refresh());

  // someone who already has the coupon sees so at once: handed over by the waiting room, or asked for
  const handed = JSON.parse(sessionStorage.getItem(ISSUED_KEY) ?? "null");
  sessionStorage.removeItem(ISSUED_KEY);
  if (handed?.code) {
    showCode(handed);
    return announce(result, t("result.issuedOnTurn"), "success");
  }
  const found = await myCoupon(storedToken());
  if (found) {
    showCode(found);
    return say("already_issued");
  }
  // back from the waiting room: the user holds a running slot until then
  const until = sessionStorage.getItem(ADMITTED_KEY);
  const lapsedAt = sessionStorage.getItem(`coupon.lapsedAt.${id}`);
  sessionStorage.removeItem(`coupon.lapsedAt.${id}`);
  if (until && phase() === "open") admitted(until, lapsedAt);
}

main();
