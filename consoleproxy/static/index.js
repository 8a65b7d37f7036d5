// The console list: a login form when there is no session, else the consoles this user may see
// (a link on those they may open).
const $ = (id) => document.getElementById(id);

function show(state, message) {
  document.body.dataset.state = state;
  $("message").textContent = message;
}

async function main() {
  const params = new URLSearchParams(location.search);
  let reply;
  try {
    reply = await fetch("/api/consoles", { cache: "no-store", credentials: "same-origin" });
  } catch (error) {
    show("error", "The console server cannot be reached.");
    return;
  }
  const body = await reply.json();
  if (!body.novnc) {
    $("novnc-missing").textContent = body.novnc_missing;
    $("novnc-missing").hidden = false;
  }
  if (reply.status === 401) {
    const form = $("login");
    form.elements.next.value = params.get("next") || "/";
    form.hidden = false;
    const failed = params.get("login") === "failed";
    $("login-failed").hidden = !failed;
    // Only a session that was there and ended is "expired"; a first visit just logs in.
    $("login-expired").hidden = failed || !body.expired;
    show("login", params.get("next") ? "Log in to open the console." : "Log in to see your consoles.");
    form.elements.username.focus();
    return;
  }
  $("user").textContent = body.user;
  $("logout").hidden = false;
  const rows = $("consoles").tBodies[0];
  for (const item of body.consoles) {
    const row = rows.insertRow();
    const name = item.vm || item.uuid;
    if (item.openable) {
      const link = document.createElement("a");
      link.href = "/console.html?ref=" + encodeURIComponent(item.ref);
      link.textContent = name;
      link.className = "open-console";
      link.title = `VM ${item.vm_uuid}`;
      row.insertCell().append(link);
    } else {
      row.insertCell().textContent = name;
    }
    const detail = document.createElement("span");
    detail.className = "detail console-uuid";
    detail.textContent = item.uuid;
    row.insertCell().append(detail);
    row.insertCell().textContent = !item.openable ? "your role may not open it"
      : item.available ? "available" : "not available";
  }
  $("consoles").hidden = body.consoles.length === 0;
  show("list", body.consoles.length
    ? `Consoles you may see, ${body.user}:`
    : "There is no console you may see.");
}

main();
