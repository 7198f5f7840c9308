import { adoptTokenFromUrl, announce, api, eventIdFromPath, forgetTicket, forgetToken, keepTicket, showBrand, storedTicket, userToken } from "./common.js";
import { enterWithProof } from "./botgate.js";
import { formatDuration, t } from "./i18n.js";
import { $, holdingPlace, renderNotice, renderPreClock, renderStale, showPreQueue, showWaiting, view } from "./waiting-view.js";

await adoptTokenFromUrl();
const id = eventIdFromPath();
const message = $("#message");
const eventPage = `/events/${id}`;
const RETRY_MS = 2000;
const EVENT_REFRESH_MS = 5000;

let token = null;
let timer = null;
let staleTimer = null;

function stop() {
  clearTimeout(timer);
  clearInterval(staleTimer);
  staleTimer = null;
  view.stop();
}

/** The line is over for this user (or could not be joined): say why and offer the way back. */
function end(headingKey, text, kind = "error") {
  stop();
  $("#heading").textContent = t(headingKey);
  for (const sel of ["#in-line", "#pre-queue", "#grace", "#leave", "#stale", "#confirm-leave", "#lapsed-note"]) $(sel).hidden = true;
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
  const place = view.lastPlace();
  forgetTicket(id);
  if (!place) end("wait.notInLine", t("wait.notInLineText"), "info");
  else {
    const away = Math.round((Date.now() - place.seenAt) / 1000);
    const silent = place.grace !== null && away > place.grace;
    const why = silent ? t("wait.lostSilent", formatDuration(place.grace), formatDuration(away >= 120 ? Math.round(away / 60) * 60 : away)) : t("wait.lostOther");
    end("wait.lost", `${why} ${t("wait.joinAgainBack")}`);
  }
  const rejoin = $("#rejoin");
  rejoin.textContent = t(place ? "wait.rejoin" : "wait.join");
  rejoin.hidden = false;
  rejoin.focus();
}

/** Hands over to the event page: a running slot to use (manual), or the coupon issued on turn. Once. */
let handedOver = false;
function handOver(key, value, text) {
  stop();
  if (handedOver) return;
  handedOver = true;
  sessionStorage.setItem(key, value);
  announce(message, text, "success");
  // replace: Back from the event page should not land in a line the user already left
  location.replace(eventPage);
}

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(poll, ms);
}

/** Ended events: closed and cancelled are told apart by the event's own status. */
async function ended() {
  const r = await api("GET", `/api/events/${id}`);
  if (r.body?.status === "cancelled") end("wait.cancelled", t("result.cancelled"));
  else end("wait.closed", t("wait.closedText"));
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
      if (r.body.lapsedAt) sessionStorage.setItem(`coupon.lapsedAt.${id}`, r.body.lapsedAt);
      handOver(`coupon.admitted.${id}`, r.body.expiresAt, t("wait.yourTurn"));
      return true;
    case "issued":
      handOver(`coupon.issued.${id}`, JSON.stringify({ code: r.body.code, validUntil: r.body.validUntil ?? null }), t("wait.issued"));
      return true;
    case "not_in_queue":
      notInLine();
      return true;
    case "sold_out":
      end("wait.soldOut", t("wait.soldOutText"));
      return true;
    case "closed":
    case "not_open":
      ended();
      return true;
    case "line_full":
      end("wait.lineFull", t("result.line_full"));
      return true;
    case "already_issued":
      end("wait.haveIt", t("result.already_issued"), "success");
      return true;
    case "event_not_found":
      end("wait.notFound", t("result.event_not_found"));
      return true;
  }
  if (r.status === 401) {
    forgetToken();
    end("wait.signIn", t("result.unauthorized"));
    return true;
  }
  return false;
}

/**
 * A reply that was neither a place nor an end: too eager, or the network or server failed. The
 * numbers on the page are then the last ones heard: the page says since when, and how long the
 * place is still kept, counting down, until an answer comes.
 */
function retry(r) {
  // polled too eagerly (another tab of the same user, say): just wait as long as the server asks
  if (r.status === 429) return schedule(Math.max(300, (r.body?.retryAfter ?? 1) * 1000));
  view.failing = true;
  view.offline = r.status === 0;
  renderStale();
  staleTimer ??= setInterval(renderStale, 1000);
  schedule(RETRY_MS);
}

async function poll() {
  if (handedOver) return;
  // the ticket, not the shop's token: that one may expire while the user waits
  const ticket = storedTicket(id);
  let r = await api("GET", `/api/events/${id}/queue`, ticket || token);
  if ((r.status === 401 || r.status === 403) && ticket) {
    // a lapsed ticket (or another event's): ask with the user's own token
    forgetTicket(id);
    r = await api("GET", `/api/events/${id}/queue`, token);
  }
  if (apply(r)) {
    view.failing = false;
    clearInterval(staleTimer);
    staleTimer = null;
    renderStale();
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
  announce(message, r.body.status === "pre_queue" ? t("wait.rejoinedPre") : t("wait.rejoined", r.body.position), "info");
  $("#heading").focus();
}

/** Leaving asks once, in the page: what is given up, and that coming back means the back of the line. */
function askLeave() {
  const pre = !$("#pre-queue").hidden;
  $("#confirm-text").textContent = pre ? t("wait.confirmPre") : t("wait.confirmLine", view.position);
  $("#confirm-yes").textContent = t(pre ? "wait.confirmYesPre" : "wait.confirmYes");
  $("#confirm-no").textContent = t("wait.confirmNo");
  $("#confirm-leave").hidden = false;
  $("#leave").hidden = true;
  $("#confirm-no").focus();
}

async function leave() {
  clearTimeout(timer);
  $("#confirm-yes").disabled = true;
  await api("DELETE", `/api/events/${id}/queue`, storedTicket(id) || token);
  stop();
  forgetTicket(id);
  location.assign(eventPage);
}

/** The event's name, brand, status and the operator's message (refreshed: a pause or a message can come at any time). */
async function refreshEvent() {
  const r = await api("GET", `/api/events/${id}`);
  if (r.status !== 200) return;
  $("#event-name").textContent = r.body.name;
  showBrand(r.body.brand, t("wait.title", r.body.name));
  view.event = r.body;
  renderNotice();
  renderPreClock();
}

async function main() {
  if (!id) return;
  $("#back").href = eventPage;
  $("#leave").addEventListener("click", askLeave);
  $("#odds-leave").addEventListener("click", askLeave);
  $("#confirm-yes").addEventListener("click", leave);
  $("#confirm-no").addEventListener("click", () => {
    $("#confirm-leave").hidden = true;
    $("#leave").hidden = false;
    $("#leave").focus();
  });
  $("#rejoin").addEventListener("click", rejoin);
  refreshEvent();
  setInterval(() => document.visibilityState === "visible" && refreshEvent(), EVENT_REFRESH_MS);
  // back from a locked phone or another tab: ask at once rather than show what was heard before
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && view.holding() && poll());
  token = await userToken();
  if (!token && !storedTicket(id)) return end("wait.signIn", t("result.no_token"));
  poll();
}

main();
