// One console in noVNC: connects over ws(s)://<this host>/console?ref=... (subprotocol "binary"),
// explains every close by asking /api/console why, and reconnects with back-off while the
// console may come back (a guest rebooting, the console program restarting).
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const key = params.has("uuid") ? "uuid" : "ref";
const query = `${key}=${encodeURIComponent(params.get(key) || "")}`;
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const socketUrl = `${scheme}//${location.host}/console?${query}`;

const FIRST_DELAY = 500;   // ms before the first reconnect; doubled each time
const MAX_DELAY = 15000;   // ms, the longest wait between attempts
const STABLE = 5000;       // ms connected before a later loss starts the back-off afresh
const XK_RETURN = 0xff0d;
const XK_TAB = 0xff09;

let RFB = null;
let rfb = null;
let attempt = 0;
let retryTimer = null;
let lastInput = Date.now();
let idleTimeout = null;
let connectedAt = 0;

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message;
  const connected = state === "connected";
  for (const id of ["ctrl-alt-del", "paste", "type"]) $(id).disabled = !connected;
  $("reconnect").hidden = !["gone", "idle", "error"].includes(state);
  $("login-again").hidden = state !== "expired";
  if (state === "expired") $("login-again").href = "/?next=" + encodeURIComponent(location.pathname + location.search);
}

async function consoleStatus() {
  try {
    const reply = await fetch(`/api/console?${query}`, { cache: "no-store", credentials: "same-origin" });
    return await reply.json();
  } catch (error) {
    return { status: 0, reason: "the console server cannot be reached" };
  }
}

function retry(message) {
  const delay = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** attempt);
  attempt += 1;
  setState("retrying", `${message} Trying again in ${Math.ceil(delay / 1000)} s…`);
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
}

async function connect() {
  clearTimeout(retryTimer);
  setState("connecting", "Connecting…");
  const status = await consoleStatus();
  if (status.status === 401 && !status.expired) {
    // No session yet (a first visit, a link from elsewhere): log in, then come back here.
    location.replace("/?next=" + encodeURIComponent(location.pathname + location.search));
    return;
  }
  if (status.status === 401) {
    setState("expired", "Your session has expired or you logged out: log in again to open this console.");
    return;
  }
  if ([400, 403, 500].includes(status.status)) {
    setState("gone", `This console cannot be opened: ${status.reason}.`);
    return;
  }
  if (status.status !== 200) {
    // 404: the console's program or guest is not there right now; 503: busy; 0: unreachable.
    retry(`The console is not available (${status.reason}).`);
    return;
  }
  idleTimeout = status.idle_timeout;
  open();
}

function open() {
  rfb = new RFB($("screen"), socketUrl, { wsProtocols: ["binary"], shared: true });
  rfb.focusOnClick = true;
  // Fit the console to the window, growing or shrinking it as the window does. The console
  // itself keeps its size (resizeSession would resize it for every viewer).
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => {
    connectedAt = Date.now();
    setState("connected", "Connected.");
    rfb.focus();
  });
  rfb.addEventListener("disconnect", () => {
    rfb = null;
    // A server that closes right after the handshake must not be hammered: only a connection
    // that lasted resets the back-off.
    if (connectedAt && Date.now() - connectedAt >= STABLE) attempt = 0;
    connectedAt = 0;
    if (idleTimeout && Date.now() - lastInput >= idleTimeout * 1000 * 0.9) {
      setState("idle", `Closed after ${idleTimeout} s without input.`);
      return;
    }
    retry("The connection to the console was lost.");
  });
  rfb.addEventListener("securityfailure", (event) => {
    setState("error", `The console refused the connection: ${event.detail.reason || event.detail.status}.`);
  });
  rfb.addEventListener("credentialsrequired", () => {
    const password = window.prompt("Console password");
    if (password === null) rfb.disconnect();
    else rfb.sendCredentials({ password });
  });
  rfb.addEventListener("desktopname", (event) => {
    document.title = event.detail.name;
    $("title").textContent = event.detail.name;
  });
}

function typeText(text) {
  for (const char of text) {
    const code = char.codePointAt(0);
    let keysym;
    if (char === "\n") keysym = XK_RETURN;
    else if (char === "\t") keysym = XK_TAB;
    else if (code >= 0x20 && code <= 0x7e) keysym = code;
    else if (code >= 0xa0 && code <= 0xff) keysym = code;
    else keysym = 0x01000000 + code;
    rfb.sendKey(keysym, null);
  }
}

for (const kind of ["keydown", "pointerdown", "pointermove", "wheel"]) {
  $("screen").addEventListener(kind, () => { lastInput = Date.now(); }, { capture: true, passive: true });
}
$("ctrl-alt-del").addEventListener("click", () => { lastInput = Date.now(); rfb?.sendCtrlAltDel(); rfb?.focus(); });
$("paste").addEventListener("click", () => {
  lastInput = Date.now();
  rfb?.clipboardPasteFrom($("paste-text").value.replace(/\r?\n/g, "\r"));
  rfb?.focus();
});
$("type").addEventListener("click", () => {
  lastInput = Date.now();
  if (rfb) typeText($("paste-text").value);
  rfb?.focus();
});
$("reconnect").addEventListener("click", () => { attempt = 0; lastInput = Date.now(); connect(); });

async function main() {
  try {
    ({ default: RFB } = await import("/novnc/core/rfb.js"));
  } catch (error) {
    let why = "noVNC could not be loaded.";
    try {
      const reply = await fetch("/api/consoles", { cache: "no-store" });
      why = (await reply.json()).novnc_missing || why;
    } catch (ignored) { /* the server is gone too: the first message says enough */ }
    setState("error", why);
    return;
  }
  connect();
}

main();
