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
    $("login-failed").hidden = params.get("login") !== "failed";
    show("login", "Log in to see your consoles.");
    form.elements.username.focus();
    return;
  }
  $("user").textContent = body.user;
  $("logout").hidden = false;
  const rows = $("consoles").tBodies[0];
  for (const item of body.consoles) {
    const row = rows.insertRow();
    row.insertCell().textContent = item.vm;
    if (item.openable) {
      const link = document.createElement("a");
      link.href = "/console.html?ref=" + encodeURIComponent(item.ref);
      link.textContent = item.uuid;
      link.className = "open-console";
      row.insertCell().append(link);
    } else {
      row.insertCell().textContent = item.uuid;
    }
    row.insertCell().textContent = !item.openable ? "your role may not open it"
      : item.available ? "available" : "not available";
  }
  $("consoles").hidden = body.consoles.length === 0;
  show("list", body.consoles.length
    ? `Consoles you may see, ${body.user}:`
    : "There is no console you may see.");
}

main();
