// The self-service kiosk's page (/kiosk/) in Debian's Chromium: the operator loads the key file
// `civpass points add-kiosk` wrote (imported into WebCrypto, not extractable), a new citizen's
// phone (the command-line wallet) shows a registration code, the kiosk reads the card and runs
// the face check through the sandbox verifier, signs the act with its key, and the phone
// confirms: a Plus account registered at the kiosk's own point. axe-core checks each screen.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { civpass, serve, launchChromium } from "./support.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const dataDir = mkdtempSync(join(tmpdir(), "civpass-kiosk-"));
let server, base, browser;

before(async () => {
  ({ server, base } = await serve(dataDir));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
});

async function accessible(page, what) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [], `accessibility of ${what}`);
}

test("a citizen registers at Plus at a self-service kiosk, which signs with its own key", async () => {
  const point = JSON.parse(await civpass("points", "add", "--data-dir", dataDir, "--kind", "kiosk", "--name-en", "Mong Kok kiosk corner",
    "--name-zh-hant", "旺角自助服務角", "--name-zh-hans", "旺角自助服务角", "--district", "Yau Tsim Mong", "--hours", "mon-sun 00:00-24:00", "--json"));
  const keyFile = join(dataDir, "kiosk.key.json");
  const kiosk = JSON.parse(await civpass("points", "add-kiosk", "--data-dir", dataDir, "--point", point.id, "--name", "MK kiosk 1", "--key-file", keyFile, "--json"));
  const [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "34", "--json"));

  const context = await browser.newContext({ viewport: { width: 1080, height: 1400 }, locale: "en-GB" });
  const page = await context.newPage();
  page.on("pageerror", (e) => assert.fail(`script error: ${e.message}`));
  await page.goto(`${base}/kiosk/`);
  await page.waitForSelector("#setup-form");
  await accessible(page, "the kiosk's set-up");
  // Not a key file: told so.
  const junk = join(dataDir, "junk.json");
  await import("node:fs").then((fs) => fs.writeFileSync(junk, "{}"));
  await page.setInputFiles("#key-file", junk);
  await page.click("#setup-submit");
  await page.waitForSelector("#alert");
  await page.setInputFiles("#key-file", keyFile);
  await page.click("#setup-submit");
  await page.waitForSelector("#kiosk-form");
  assert.match(await page.textContent("#kiosk-identity"), new RegExp(kiosk.id));
  // The key cannot be read out of the page: it is a non-extractable CryptoKey.
  const extractable = await page.evaluate(() => stored().then((k) => k.key.extractable));
  assert.equal(extractable, false);
  await accessible(page, "the kiosk's form");

  // A new citizen's phone shows a code; the kiosk reads it (a scanner types it), the card and the face.
  const wallet = join(dataDir, "phone.json");
  const issued = JSON.parse(await civpass("wallet", "registration-code", "--wallet", wallet, "--server", base, "--json"));
  await page.check("#kind-register");
  await page.focus("#code");
  await page.keyboard.type(issued.code);
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "id-number");
  await page.keyboard.type(person.hkid);
  await page.fill("#name-en", person.name_en);
  await page.fill("#dob", person.date_of_birth);
  await page.check("#evidence-pass");
  await page.click("#kiosk-submit");
  await page.waitForSelector("#outcome[data-outcome=awaiting_citizen]");
  assert.equal(await page.inputValue("#id-number"), "", "nothing of the citizen stays on the kiosk's form");
  await accessible(page, "the kiosk after an act");

  // The phone confirms; the account is Plus, registered at the kiosk.
  const [pending] = JSON.parse(await civpass("wallet", "pending", "--wallet", wallet, "--json"));
  assert.equal(pending.kind, "register");
  assert.equal(pending.point_name_en, "Mong Kok kiosk corner");
  const done = JSON.parse(await civpass("wallet", "confirm", "--wallet", wallet, pending.id, "--json"));
  assert.equal(done.tier, "plus");
  const history = JSON.parse(await civpass("wallet", "history", "--wallet", wallet, "--json"));
  assert.ok(history.some((h) => h.what === "registered" && h.channel === "kiosk"), JSON.stringify(history));

  // A failed face check registers nothing, and says why.
  const again = JSON.parse(await civpass("wallet", "registration-code", "--wallet", join(dataDir, "phone2.json"), "--server", base, "--json"));
  const [other] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "36", "--json"));
  await page.fill("#code", again.code);
  await page.fill("#id-number", other.hkid);
  await page.fill("#name-en", other.name_en);
  await page.fill("#dob", other.date_of_birth);
  await page.check("#evidence-liveness_failed");
  await page.click("#kiosk-submit");
  await page.waitForSelector("#outcome:not([data-outcome])");
  assert.match(await page.textContent("#outcome"), /face/i);
  assert.equal(await page.inputValue("#id-number"), "", "a failed act leaves nothing of the citizen either");
  await context.close();
});
