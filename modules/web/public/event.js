import { adoptTokenFromUrl, announce, api, BAD_TOKEN, eventIdFromPath, forgetToken, formatTime, NO_TOKEN, OFFLINE, storedToken, userToken } from "./common.js";

await adoptTokenFromUrl();
const id = eventIdFromPath();
const $ = (sel) => document.querySelector(sel);
const button = $("#get-coupon");
const result = $("#result");
const REFRESH_MS = 2000;

const STATUS_TEXT = { open: "Open", paused: "Paused", scheduled: "Not open yet", sold_out: "Sold out", closed: "Closed", cancelled: "Cancelled" };
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
  busy: ["The service is busy. Please try again in a moment.", "error"],
  offline: [OFFLINE, "error"],
};

let event = null;
let busy = false;
let done = false; // this user has the coupon
let said = null; // the status last explained in the result region

function say(kind) {
  const [text, tone] = MESSAGES[kind];
  announce(result, text, tone);
}

function render() {
  // a paused event still takes people into its line (nobody is let through until it resumes)
  button.disabled = done || (event?.status !== "open" && event?.status !== "paused");
  // while a request runs the button keeps its focus but does nothing
  button.setAttribute("aria-disabled", String(busy));
  if (!event) return;
  document.title = `${event.name} · massive coupon`;
  $("#event-id").textContent = `#${event.id}`;
  $("#event-name").textContent = event.name;
  const badge = $("#event-status");
  badge.textContent = event.status === "scheduled" ? `Opens at ${formatTime(event.startsAt)}` : STATUS_TEXT[event.status];
  badge.dataset.status = event.status;
  $("#remaining").textContent = event.remaining.toLocaleString("en");
  $("#stock").textContent = event.stock.toLocaleString("en");
  $("#coupons-word").textContent = event.stock === 1 ? "coupon" : "coupons";
  const meter = $("#stock-meter");
  meter.max = event.stock;
  meter.value = event.remaining;
  if (done || said === event.status) return;
  // explain, once per change, why the button cannot be used, or that it now can
  if (event.status === "scheduled") announce(result, `Not open yet: the event opens at ${formatTime(event.startsAt)}.`, "info");
  else if (event.status !== "open") say(["sold_out", "paused", "cancelled"].includes(event.status) ? event.status : "closed");
  else if (said) announce(result, "Open now: press Get coupon.", "success");
  said = event.status;
}

async function refresh() {
  const r = await api("GET", `/api/events/${id}`);
  if (r.status === 200) event = r.body;
  else if (r.status === 404) {
    $("#event-name").textContent = "Event not found";
    say("event_not_found");
    return false;
  }
  render();
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
  const entered = await api("POST", `/api/events/${id}/enter`, token);
  if (entered.status === 202) return "waiting";
  if (entered.status !== 200) return outcome(entered);
  const issued = await api("POST", `/api/events/${id}/issue`, token);
  // the running slot can lapse between the two calls: enter again once (maybe into the line)
  if (issued.status === 403 && !retried) return attempt(token, true);
  return outcome(issued);
}

async function getCoupon() {
  if (busy) return;
  busy = true;
  render();
  announce(result, "Getting your coupon…");
  const token = await userToken();
  const kind = token ? await attempt(token) : null;
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
    if (event?.status === "open") {
      announce(result, `It is your turn! Press Get coupon before ${formatTime(admittedUntil)}.`, "success");
      button.focus();
    }
  }
}

main();
