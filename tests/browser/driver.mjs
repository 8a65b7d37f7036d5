// A headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, taking one JSON
// command per line on stdin and answering one JSON line per command on stdout. The pytest
// side (test_browser_console.py) says what to do and checks what the page shows.
//
//   node driver.mjs PROFILE_DIR
//   {"cmd": "goto", "url": "http://127.0.0.1:8080/"}   -> {"ok": true}
//   {"cmd": "wait_state", "states": ["list"], "timeout": 10000} -> {"ok": true, "state": ...}
//   {"cmd": "fill"|"click"|"type"|"press"|"canvas"|"cookies"|"state"|"text"|"texts"|"visible"|
//           "box"|"viewport"|"screenshot"|"close", ...}
import { createInterface } from "node:readline";
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const profile = process.argv[2];
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
// No network here: without these Chromium stalls on lookups and background services.
const args = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];

// The proxy's https listener has a self-signed certificate, as hosts commonly do.
const context = await chromium.launchPersistentContext(profile, {
  executablePath, headless: true, args, viewport: { width: 900, height: 600 },
  ignoreHTTPSErrors: true,
});
const page = context.pages()[0] || await context.newPage();
const logs = [];
page.on("console", (message) => logs.push(`${message.type()}: ${message.text()}`));
page.on("pageerror", (error) => logs.push(`pageerror: ${error.message}`));

async function state() {
  return page.evaluate(() => ({
    state: document.body ? document.body.dataset.state : null,
    status: (document.getElementById("status") || document.getElementById("message") || {}).textContent,
  }));
}

const handlers = {
  async goto({ url }) { await page.goto(url, { waitUntil: "load" }); return {}; },
  async state() { return state(); },
  async wait_state({ states, timeout }) {
    await page.waitForFunction((wanted) => wanted.includes(document.body?.dataset.state),
      states, { timeout, polling: 50 });
    return state();
  },
  async fill({ selector, value }) { await page.fill(selector, value); return {}; },
  async click({ selector }) { await page.click(selector); return {}; },
  async type({ text }) { await page.keyboard.type(text, { delay: 15 }); return {}; },
  async press({ key }) { await page.keyboard.press(key); return {}; },
  async focus_screen() { await page.click("#screen canvas"); return {}; },
  async text({ selector }) { return { text: await page.textContent(selector) }; },
  async visible({ selector }) { return { visible: await page.isVisible(selector) }; },
  async texts({ selector }) { return { texts: await page.locator(selector).allTextContents() }; },
  async box({ selector }) { return { box: await page.locator(selector).first().boundingBox() }; },
  async viewport({ width, height }) { await page.setViewportSize({ width, height }); return {}; },
  async url() { return { url: page.url() }; },
  async cookies() { return { cookies: await context.cookies() }; },
  async canvas({ path }) {
    const dataUrl = await page.evaluate(() => {
      const canvas = document.querySelector("#screen canvas");
      return canvas && canvas.width > 0 ? canvas.toDataURL("image/png") : null;
    });
    if (dataUrl === null) return { found: false };
    writeFileSync(path, Buffer.from(dataUrl.split(",", 2)[1], "base64"));
    return { found: true };
  },
  async screenshot({ path }) { await page.screenshot({ path }); return {}; },
  async logs() { return { logs }; },
  async close() { await context.close(); return {}; },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  let reply;
  try {
    reply = { ok: true, ...(await handlers[command.cmd](command)) };
  } catch (error) {
    reply = { ok: false, error: String(error && error.message || error), ...(await state().catch(() => ({}))) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
  if (command.cmd === "close") break;
}
process.exit(0);
