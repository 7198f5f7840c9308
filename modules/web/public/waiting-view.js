// The waiting room's picture of the user's place: position, chances, ETA, the pre-queue's countdown,
// and, when the server stops answering, since when the numbers are old and how long the place is kept.
import { eventIdFromPath, formatMoment, serverNow } from "./common.js";
import { formatCountdown, formatDuration, num, t, timeOf } from "./i18n.js";

export const $ = (sel) => document.querySelector(sel);
const id = eventIdFromPath();
// the longest line this user has seen, so progress survives a reload of the page
const START_KEY = `coupon.lineStart.${id}`;
// that this tab holds a place, when the server last answered about it, and how long the server
// keeps a silent user's place (null: never dropped for silence): to tell a user who lost the place why
const PLACE_KEY = `coupon.place.${id}`;

let clock = null;
let start = Number(sessionStorage.getItem(START_KEY)) || 0;
let shown = null;
let pre = null; // the last pre_queue reply

export const view = {
  /** the public event (name, status, message, brand, claim), refreshed every few seconds */
  event: null,
  /** the last waiting reply */
  waiting: null,
  position: null,
  /** the last poll got no answer (network or server): the numbers shown are the last heard */
  failing: false,
  /** the last failure was the network (not the server) */
  offline: false,
  /** Date.now() of the last answer about the place */
  heardAt: null,
  /** seconds the server keeps a silent user's place; null = not dropped for silence (on_turn) */
  grace: undefined,
  lastPlace: () => JSON.parse(sessionStorage.getItem(PLACE_KEY) ?? "null"),
  holding: () => view.heardAt !== null,
  stop() {
    clearTimeout(clock);
    view.heardAt = null;
    sessionStorage.removeItem(START_KEY);
    sessionStorage.removeItem(PLACE_KEY);
  },
};

const paused = () => view.waiting?.paused === true || view.event?.status === "paused";
const claim = (body) => body?.claim ?? view.event?.claim ?? "manual";

/** The server answered about this user's place: remember when, and say how long it is kept. */
export function holdingPlace(body) {
  view.heardAt = Date.now();
  // a reply without graceSeconds (an older server) keeps what was known; null means never dropped
  if (body.graceSeconds !== undefined) view.grace = body.graceSeconds;
  sessionStorage.setItem(PLACE_KEY, JSON.stringify({ seenAt: view.heardAt, grace: view.grace ?? null }));
  const grace = $("#grace");
  grace.hidden = view.grace === undefined;
  const text = view.grace === null ? t("wait.graceNever") : view.grace !== undefined ? t("wait.grace", formatDuration(view.grace)) : "";
  if (grace.textContent !== text) grace.textContent = text;
  const onTurn = claim(body) === "on_turn";
  $("#keep-open").textContent = t(onTurn ? "wait.keepOpenOnTurn" : "wait.keepOpen");
  const note = $("#lapsed-note");
  note.hidden = !body.lapsedAt;
  if (body.lapsedAt) note.textContent = t("wait.lapsed", formatMoment(body.lapsedAt));
}

/** The operator's word: paused (nobody let in), and any message. */
export function renderNotice() {
  const notice = $("#notice");
  const msg = view.waiting?.message ?? view.event?.message ?? "";
  const who = view.event?.brand?.shopName ?? t("site.organiser");
  const text = paused() ? (msg ? `${t("wait.paused")} ${t("event.notice", who, msg)}` : t("wait.paused")) : msg ? t("event.notice", who, msg) : "";
  notice.hidden = !text;
  notice.dataset.kind = paused() ? "paused" : "message";
  if (notice.textContent !== text) notice.textContent = text;
  if (view.waiting) renderEta(view.waiting);
}

export function showPreQueue(p) {
  pre = p;
  $("#in-line").hidden = true;
  $("#pre-queue").hidden = false;
  $("#leave").textContent = t("wait.leavePre");
  const chances = t("wait.preChances", p.remaining, p.preQueued);
  $("#pre-chances").textContent = p.preQueued > p.remaining ? `${chances}: ${t("wait.preTooMany")}` : chances;
  renderPreClock();
}

/** Before the start a countdown; from the start until the places are drawn, says they are being drawn. */
export function renderPreClock() {
  clearTimeout(clock);
  if (!pre || $("#pre-queue").hidden) return;
  const left = Date.parse(pre.startsAt) - serverNow();
  const drawing = left <= 0;
  const heading = t(drawing ? "wait.drawing" : "wait.inPre");
  if ($("#heading").textContent !== heading) $("#heading").textContent = heading;
  const text = drawing ? t("wait.drawingText") : t("wait.preText", formatMoment(pre.startsAt));
  if ($("#pre-text").textContent !== text) $("#pre-text").textContent = text;
  $("#pre-countdown").textContent = drawing ? t("wait.drawingShort") : t("event.countdownStart", formatCountdown(left));
  if (!drawing) clock = setTimeout(renderPreClock, Math.min(1000 - (serverNow() % 1000) + 5, left + 5));
}

function renderEta(w) {
  const ahead = w.position - 1 + (w.running ?? 0);
  let eta;
  if (paused()) eta = t("wait.etaPaused");
  else if (w.remaining > 0 && ahead >= w.remaining) eta = t("wait.etaSoldOutFirst");
  else eta = t("wait.eta", w.etaSeconds);
  if ($("#eta").textContent !== eta) $("#eta").textContent = eta;
}

export function showWaiting(w) {
  pre = null;
  view.waiting = w;
  view.position = w.position;
  $("#pre-queue").hidden = true;
  $("#in-line").hidden = false;
  $("#leave").textContent = t("wait.leave");
  const heading = t("wait.inLine");
  if ($("#heading").textContent !== heading) $("#heading").textContent = heading;
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
  const ahead = w.position - 1 + (w.running ?? 0);
  $("#chances").textContent = t("wait.chances", w.remaining, ahead);
  // as many people ahead as coupons left, or more: say it plainly, and offer to leave
  const likely = w.remaining > 0 && ahead >= w.remaining;
  $("#odds-box").hidden = !likely;
  const odds = likely ? t("wait.oddsLikely", ahead, w.remaining) : "";
  if ($("#odds").textContent !== odds) $("#odds").textContent = odds;
  const progress = $("#progress");
  progress.max = start;
  progress.value = start - w.position;
  progress.setAttribute("aria-valuetext", t("wait.progressText", w.position - 1));
  renderNotice();
}

/**
 * While the server does not answer: since when the numbers are old, and how long the place is still
 * kept (counting down from the last answer); nothing when the last poll was answered.
 */
export function renderStale() {
  const box = $("#stale");
  const failing = view.failing && view.heardAt !== null;
  // screen readers hear the change once, not every second's count
  if (failing && box.hidden) $("#stale-said").textContent = t(view.offline ? "wait.staleOffline" : "wait.staleServer", Math.max(0, Math.round((Date.now() - view.heardAt) / 1000)), timeOf(new Date(view.heardAt)));
  if (!failing && !box.hidden) $("#stale-said").textContent = "";
  box.hidden = !failing;
  $("#in-line").classList.toggle("is-stale", failing);
  $("#as-of").hidden = !failing;
  if (!failing) return;
  const ago = Math.max(0, Math.round((Date.now() - view.heardAt) / 1000));
  const heard = new Date(view.heardAt);
  $("#stale-heard").textContent = t(view.offline ? "wait.staleOffline" : "wait.staleServer", ago, timeOf(heard));
  $("#as-of").textContent = t("wait.asOf", timeOf(heard));
  const kept = $("#stale-kept");
  if (view.grace === null) kept.textContent = t("wait.keptNever");
  else if (view.grace === undefined) kept.textContent = "";
  else {
    const left = view.heardAt + view.grace * 1000 - Date.now();
    kept.textContent = left > 0 ? t("wait.keptFor", formatCountdown(left)) : t("wait.keptGone", formatDuration(view.grace));
  }
}
