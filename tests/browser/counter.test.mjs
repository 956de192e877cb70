// The counter console (/counter/) and the app's registration-code screen in Debian's Chromium,
// each browser context with its own virtual WebAuthn authenticator: the first administrator,
// made by `civpass staff add --role admin`, makes their passkey from the printed link and signs
// in with it and a TOTP code; they add an officer and a point; the officer signs in, scans (types)
// the code a citizen's app shows, checks the card, and the citizen confirms on the phone with
// their passkey. axe-core checks every screen for WCAG 2.1 A/AA problems.
//
// CIVPASS_SCREENSHOTS=DIR also saves screenshots of the console and the app's screen in English
// and Traditional Chinese (docs/screenshots is made this way).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import QRCode from "qrcode";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { civpass, serve, launchChromium } from "./support.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const shots = process.env.CIVPASS_SCREENSHOTS;
const dataDir = mkdtempSync(join(tmpdir(), "civpass-counter-"));
const DESK = { viewport: { width: 1280, height: 800 }, locale: "en-GB" };
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: "en-GB" };
let server, base, browser, person;

before(async () => {
  ({ server, base } = await serve(dataDir));
  [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "32", "--json"));
  browser = await launchChromium();
  if (shots) mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
});

async function withAuthenticator(options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  page.on("pageerror", (e) => assert.fail(`script error: ${e.message}`));
  page.on("dialog", (dialog) => dialog.accept());
  return { context, page };
}

async function accessible(page, what) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [], `accessibility of ${what}`);
}

async function shoot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** RFC 6238 with SHA-1, 30-second steps and six digits, from a base32 secret (RFC 4648). */
function totp(secret, at = Date.now() / 1000) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

/** Follows an enrolment link in `page` and makes the passkey; returns the TOTP secret, if any. */
async function enrol(page, link, name) {
  await page.goto(link);
  await page.waitForSelector("#make-passkey");
  assert.equal(new URL(page.url()).hash, "", "the token leaves the address bar");
  await accessible(page, `the enrolment page of ${name}`);
  await page.click("#make-passkey");
  await page.waitForSelector("#enrolled");
  const secret = await page.locator("#totp-secret").textContent().catch(() => null);
  await accessible(page, `the enrolled page of ${name}`);
  return secret;
}

test("the first administrator enrols from the command line's link and signs in with a passkey and a TOTP code", async () => {
  const added = JSON.parse(await civpass("staff", "add", "--data-dir", dataDir, "--role", "admin", "--name", "Admin Chan", "--issuer", base, "--json"));
  assert.ok(added.enrolment_link.startsWith(`${base}/counter/enrol#`));
  const admin = await withAuthenticator(DESK);
  const { page } = admin;
  const secret = await enrol(page, added.enrolment_link, "the administrator");
  assert.match(secret, /^[A-Z2-7]+=*$/);
  await shoot(page, "en-console-enrolled");

  await page.click("#to-sign-in");
  await page.waitForSelector("#sign-in-form");
  await accessible(page, "the sign-in page");
  await shoot(page, "en-console-sign-in");
  assert.equal(await page.inputValue("#staff-id"), "", "nobody signed in on this browser yet");
  // The passkey alone does not sign an administrator in; a wrong code neither.
  await page.fill("#staff-id", added.id);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#alert");
  assert.match(await page.textContent("#alert"), /six-digit code/);
  await page.fill("#totp", totp(secret) === "123456" ? "654321" : "123456");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => /authenticator code is wrong/.test(document.getElementById("alert")?.textContent || ""));
  await page.fill("#totp", totp(secret));
  await page.keyboard.press("Enter");
  await page.waitForSelector("#staff");
  assert.equal(new URL(page.url()).pathname, "/counter/admin");
  await accessible(page, "the administration page");

  // A point, open at all hours, and an officer assigned to it.
  await page.selectOption("#point-kind", "counter");
  await page.fill("#point-name-en", "Wan Chai Registration Centre");
  await page.fill("#point-name-hant", "灣仔登記中心");
  await page.fill("#point-name-hans", "湾仔登记中心");
  await page.fill("#point-district", "Wan Chai");
  await page.fill("#point-hours", "mon-sun 00:00-24:00");
  await page.click("#add-point button[type=submit]");
  await page.waitForSelector("#points li");
  await page.fill("#new-staff-name", "Officer Wong");
  await page.selectOption("#new-staff-role", "officer");
  await page.click("#add-staff-button");
  await page.waitForSelector("#enrolment-link");
  const officerLink = await page.textContent("#enrolment-link");
  await accessible(page, "the administration page with a new link");
  await shoot(page, "en-console-admin");
  const row = page.locator("#staff tbody tr", { hasText: "Officer Wong" });
  await row.locator("button", { hasText: "Assign" }).click();
  await page.waitForFunction(() => [...document.querySelectorAll("#staff tbody tr")].some((r) => r.textContent.includes("Officer Wong") && /p_/.test(r.textContent)));
  await admin.context.close();

  // The officer makes their passkey and signs in: no TOTP for an officer.
  const officer = await withAuthenticator(DESK);
  await enrol(officer.page, officerLink, "the officer");
  await officer.page.click("#to-sign-in");
  const staff = JSON.parse(await civpass("staff", "list", "--data-dir", dataDir, "--json"));
  const officerId = staff.find((s) => s.staff.name === "Officer Wong").staff.id;
  await officer.page.fill("#staff-id", officerId);
  await officer.page.keyboard.press("Enter");
  await officer.page.waitForSelector("#act-form");
  await accessible(officer.page, "the officer's desk");
  assert.equal(await officer.page.evaluate(() => document.activeElement.id), "code", "the code field has the focus");

  // A citizen with a basic account in the app shows a registration code.
  const phone = await withAuthenticator(PHONE);
  await phone.page.goto(`${base}/app/register`);
  await phone.page.fill("#hkid", person.hkid);
  await phone.page.fill("#name", person.name_en);
  await phone.page.fill("#dob", person.date_of_birth);
  await phone.page.click("#register-submit");
  await phone.page.waitForSelector("#registered");
  await phone.page.goto(`${base}/app/`);
  await phone.page.click("#counter-link");
  await phone.page.click("#unlock");
  await phone.page.waitForSelector("#registration-code");
  await accessible(phone.page, "the app's registration-code screen");
  await shoot(phone.page, "en-app-registration-code");
  const code = (await phone.page.textContent("#registration-code")).trim();
  assert.match(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/);

  // The officer types the code as a scanner would (Enter moves on), with a card that differs.
  const desk = officer.page;
  await desk.check("#kind-upgrade");
  await desk.focus("#code");
  await desk.keyboard.type(code);
  await desk.keyboard.press("Enter");
  assert.equal(await desk.evaluate(() => document.activeElement.id), "id-number", "Enter after the code moves to the card");
  await desk.keyboard.type(person.hkid);
  await desk.fill("#name-en", "SOMEONE ELSE");
  await desk.fill("#dob", person.date_of_birth);
  await desk.keyboard.press("Enter");
  await desk.waitForSelector("#outcome[data-outcome=details_differ]");
  assert.match(await desk.textContent("#outcome"), /differs from the population registry/);

  // A new code; the right card: the act waits for the phone.
  await phone.page.click("#new-code");
  await phone.page.waitForFunction((old) => {
    const shown = document.getElementById("registration-code");
    return shown && shown.textContent.trim() !== old;
  }, code);
  const second = (await phone.page.textContent("#registration-code")).trim();
  await desk.fill("#code", second);
  await desk.fill("#name-en", person.name_en);
  await desk.click("#act");
  await desk.waitForSelector("#outcome[data-outcome=awaiting_citizen]");
  await accessible(desk, "the desk with an outcome");
  await shoot(desk, "en-console-desk");

  // The phone sees it and confirms with its passkey.
  await phone.page.waitForSelector("#confirm-act", { timeout: 10000 });
  assert.match(await phone.page.textContent("[data-act]"), /Wan Chai Registration Centre/);
  await accessible(phone.page, "the app's confirmation");
  await shoot(phone.page, "en-app-confirm");
  await phone.page.click("#confirm-act");
  await phone.page.waitForSelector("#confirmed");
  assert.match(await phone.page.textContent("#confirmed"), /Plus/);

  // Traditional Chinese: the desk and the app's history say it in the citizen's language.
  await desk.click("button[data-lang='zh-HK']");
  await desk.waitForSelector("main[data-shown='zh-HK'] #act-form");
  await accessible(desk, "the desk in Traditional Chinese");
  await shoot(desk, "zh-HK-console-desk");
  await phone.page.goto(`${base}/app/devices`);
  await phone.page.waitForSelector("#history li");
  assert.match(await phone.page.textContent("#history"), /Upgraded to Plus/);
  await accessible(phone.page, "the app's devices and history");
  await phone.page.click("button[data-lang='zh-HK']");
  await phone.page.waitForSelector("main[data-shown='zh-HK'] #history li");
  assert.match(await phone.page.textContent("#history"), /灣仔登記中心/);
  await shoot(phone.page, "zh-HK-app-devices");

  await phone.context.close();
  await officer.context.close();
});

/**
 * A one-frame YUV4MPEG2 video of `text` as a QR code, black on white (4:2:0, grey chroma):
 * Chromium's fake camera plays it in a loop (`--use-file-for-fake-video-capture`).
 */
function qrVideo(text, path) {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: "M" });
  const [width, height, scale, quiet] = [640, 480, 8, 4];
  const side = (modules.size + 2 * quiet) * scale;
  const left = (width - side) / 2, top = (height - side) / 2;
  const luma = Buffer.alloc(width * height, 255);
  for (let y = 0; y < modules.size; y++) {
    for (let x = 0; x < modules.size; x++) {
      if (!modules.get(y, x)) continue;
      for (let dy = 0; dy < scale; dy++) {
        const row = top + (y + quiet) * scale + dy;
        luma.fill(0, row * width + left + (x + quiet) * scale, row * width + left + (x + quiet + 1) * scale);
      }
    }
  }
  const chroma = Buffer.alloc((width / 2) * (height / 2), 128);
  writeFileSync(path, Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), luma, chroma, chroma]));
}

test("the officer scans the phone's code with the laptop camera", async () => {
  // A new citizen's phone (the command-line wallet) shows a code; the camera sees its QR code.
  const wallet = join(dataDir, "camera-phone.json");
  const issued = JSON.parse(await civpass("wallet", "registration-code", "--wallet", wallet, "--server", base, "--json"));
  const video = join(dataDir, "code.y4m");
  qrVideo(issued.code, video);
  const camera = await launchChromium(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${video}`]);
  try {
    const [point] = JSON.parse(await civpass("points", "list", "--data-dir", dataDir, "--json"));
    const added = JSON.parse(await civpass("staff", "add", "--data-dir", dataDir, "--role", "officer", "--name", "Officer Lee", "--issuer", base, "--json"));
    await civpass("staff", "assign", "--data-dir", dataDir, added.id, point.id);
    const context = await camera.newContext(DESK);
    await context.grantPermissions(["camera"], { origin: base });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    page.on("pageerror", (e) => assert.fail(`script error: ${e.message}`));
    await enrol(page, added.enrolment_link, "the camera officer");
    await page.click("#to-sign-in");
    await page.fill("#staff-id", added.id);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#act-form");
    await page.click("#camera");
    await page.waitForSelector("#camera-view");
    await accessible(page, "the desk with the camera on");
    await page.waitForFunction((code) => document.getElementById("code").value === code, issued.code, { timeout: 15000 });
    assert.equal(await page.evaluate(() => document.activeElement.id), "id-number", "after a scan the card is next");
    assert.equal(await page.$("#camera-view"), null, "the camera is off once it has read the code");
    const [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "39", "--json"));
    await page.keyboard.type(person.hkid);
    await page.fill("#name-en", person.name_en);
    await page.fill("#dob", person.date_of_birth);
    await page.click("#act");
    await page.waitForSelector("#outcome[data-outcome=awaiting_citizen]");
    const [pending] = JSON.parse(await civpass("wallet", "pending", "--wallet", wallet, "--json"));
    assert.equal(pending.kind, "register");
  } finally {
    await camera.close();
  }
});

test("a new citizen's app makes its passkey at the counter and is registered at Plus on it", async () => {
  const phone = await withAuthenticator(PHONE);
  const { page } = phone;
  await page.goto(`${base}/app/`);
  await page.click("#counter-register-link");
  await page.waitForSelector("#make-counter-passkey");
  await accessible(page, "the app's counter screen on a new phone");
  await page.click("#make-counter-passkey");
  await page.waitForSelector("#registration-code");
  const code = (await page.textContent("#registration-code")).trim();

  // The officer's act, as operators script it (the console does the same).
  const [point] = JSON.parse(await civpass("points", "list", "--data-dir", dataDir, "--json"));
  const staff = JSON.parse(await civpass("staff", "list", "--data-dir", dataDir, "--json"));
  const officer = staff.find((s) => s.staff.role === "officer" && !s.staff.disabled_at).staff;
  const [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "42", "--json"));
  const act = JSON.parse(await civpass("counter", "register", "--data-dir", dataDir, "--point", point.id, "--officer", officer.id,
    "--code", code, "--id-number", person.hkid, "--name-en", person.name_en, "--dob", person.date_of_birth, "--json"));
  assert.equal(act.outcome, "awaiting_citizen");

  await page.waitForSelector("#confirm-act", { timeout: 10000 });
  await page.click("#confirm-act");
  await page.waitForSelector("#confirmed");
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("civpass.device")));
  assert.match(stored.device_id, /^d_/);
  assert.equal(stored.tier, "plus");
  // The passkey made at the counter is the phone's device: it opens My data.
  await page.goto(`${base}/app/data`);
  await page.click("#unlock");
  await page.waitForSelector("#my-data");
  assert.match(await page.textContent("#my-data"), new RegExp(person.name_en.split(" ")[0]));
  await phone.context.close();
});
