// The civpass app (the PWA at /app/) in Debian's Chromium, with a virtual WebAuthn authenticator
// standing in for the phone's platform authenticator (Chrome DevTools Protocol `WebAuthn`
// domain; user verification on). One browser context is the phone, another the desktop;
// openid-client is the relying party. axe-core checks every page for WCAG 2.1 A/AA problems.
//
// CIVPASS_SCREENSHOTS=DIR also saves phone-sized screenshots of the main screens in English and
// Traditional Chinese (docs/screenshots is made this way).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import * as oidc from "openid-client";
import { chromium } from "playwright-core";
import { civpass, serve, launchChromium, run } from "./support.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const shots = process.env.CIVPASS_SCREENSHOTS;
const dataDir = mkdtempSync(join(tmpdir(), "civpass-app-"));
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true };
let server, base, rp, callback, bye, browser, config, person, phone;

before(async () => {
  const places = new URL("../fixtures/ip-location-test.mmdb", import.meta.url).pathname;
  ({ server, base } = await serve(dataDir, "--ip-location-db", places));
  // On a loopback address the issuer is http://localhost:PORT: WebAuthn needs a domain name.
  assert.match(base, /^http:\/\/localhost:\d+$/);

  rp = createServer((req, res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<!doctype html><title>Test service</title><h1>Back at the test service</h1>"); });
  await new Promise((resolve) => rp.listen(0, "127.0.0.1", resolve));
  callback = `http://127.0.0.1:${rp.address().port}/callback`;
  bye = `http://127.0.0.1:${rp.address().port}/bye`;
  const client = JSON.parse(await civpass("client", "create", "--data-dir", dataDir, "--name", "Transport Department", "--redirect-uri", callback, "--post-logout-redirect-uri", bye, "--json"));
  config = await oidc.discovery(new URL(base), client.client_id, { client_secret: client.client_secret, id_token_signed_response_alg: "ES256" }, oidc.ClientSecretBasic(client.client_secret), { execute: [oidc.allowInsecureRequests] });
  [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "7", "--json"));

  browser = await launchChromium();
  if (shots) mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  rp?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A phone: a page whose tab has a platform authenticator with user verification. */
async function newPhone(locale = "en-GB", context) {
  context ??= await browser.newContext({ ...PHONE, locale });
  const page = await context.newPage();
  const authenticator = await addAuthenticator(page);
  page.on("pageerror", (e) => assert.fail(`script error in the app: ${e.message}`));
  return { context, page, ...authenticator };
}

async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, authenticatorId };
}

/** Switches the app's language and waits until `selector` is shown in it. */
async function switchTo(page, tag, selector) {
  await page.click(`button[data-lang='${tag}']`);
  await page.waitForSelector(`main[data-shown='${tag}'] ${selector}`);
}

/** Elements that stick out to the right: the page would scroll sideways. */
async function overflowing(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    return [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > width + 0.5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}`);
  });
}

/** No serious or critical WCAG 2.1 A/AA violations on the page as it is now. */
async function accessible(page, what) {
  // Evaluated over DevTools, which the pages' Content-Security-Policy does not govern, so the
  // pages are tested under their real policy (a script tag would be refused).
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => `${n.target.join(" ")} (${n.failureSummary})`).join(", ")}`), [], `accessibility of ${what}`);
}

async function shoot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function startLogin(page, extra = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: callback, scope: "openid profile birthdate", state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256", ...extra,
  });
  await page.goto(url.href);
  return { verifier, state, nonce };
}

async function finishLogin(page, login) {
  await page.waitForURL((u) => u.href.startsWith(callback), { timeout: 15000 });
  return oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce });
}

test("a citizen registers in the app with a passkey, the HKID check digit checked as they type", async () => {
  phone = await newPhone();
  const { page } = phone;
  await page.goto(`${base}/app/`);
  await accessible(page, "the welcome page");
  await page.click("#register-link");
  await page.waitForSelector("#register-form");

  // A number with the wrong check digit is explained in plain words, without a server call.
  const wrong = person.hkid.replace(/\((.)\)$/, (_, d) => `(${d === "1" ? "2" : "1"})`);
  await page.fill("#hkid", wrong);
  await page.locator("#hkid").blur();
  assert.equal(await page.getAttribute("#hkid", "aria-invalid"), "true");
  assert.match(await page.textContent("#hkid-error"), /check digit/);
  await page.click("#register-submit");
  assert.match(await page.textContent("#alert"), /There is a problem/);
  await accessible(page, "the registration form with errors");

  await page.fill("#hkid", person.hkid);
  assert.equal(await page.getAttribute("#hkid", "aria-invalid"), null, "the error clears once the number is right");
  await page.fill("#name", person.name_en.toLowerCase());
  await page.fill("#dob", person.date_of_birth);
  await shoot(page, "en-register");
  // The test platform's identity check: a failed face check is explained and registers nothing.
  await page.check("#evidence-liveness_failed");
  await page.click("#register-submit");
  assert.match(await page.locator("#alert").textContent(), /face check did not confirm/);
  await accessible(page, "the registration form with a failed identity check");
  await page.check("#evidence-pass");
  await page.click("#register-submit");
  await page.waitForSelector("#registered");
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("civpass.device")));
  assert.match(stored.device_id, /^d_/);
  assert.equal(Object.keys(stored).sort().join(), "device_id,tier", "the app keeps no personal data on the phone");
  const { credentials } = await phone.cdp.send("WebAuthn.getCredentials", { authenticatorId: phone.authenticatorId });
  assert.equal(credentials.length, 1, "the passkey lives in the phone's authenticator");
  assert.equal(credentials[0].rpId, "localhost");

  // Registering the same identity again is refused with a plain explanation.
  const again = await newPhone();
  await again.page.goto(`${base}/app/register`);
  await again.page.fill("#hkid", person.hkid);
  await again.page.fill("#name", person.name_en);
  await again.page.fill("#dob", person.date_of_birth);
  await again.page.click("#register-submit");
  assert.match(await again.page.locator("#alert").textContent(), /already registered with civpass/);
  await again.context.close();
});

test("cross-device login: the phone approves with the matching code and the desktop continues by itself", async () => {
  const windowsChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB", userAgent: windowsChrome });
  const page = await desktop.newPage();
  const login = await startLogin(page);
  await accessible(page, "the desktop login page");
  const matchCode = (await page.textContent("#match-code")).trim();
  const link = await page.getAttribute("#open-app", "href");
  assert.equal(await page.textContent("#app-link"), link, "the QR code's link is also given as text");

  await phone.page.goto(link);
  await phone.page.waitForSelector("#approve");
  assert.match(await phone.page.textContent("h1"), /Transport Department/);
  // Where the login began, beside the service's name: the desktop's browser and system, and
  // its approximate place from the IP location database (the test fixture names loopback).
  const context = await phone.page.textContent("#request-context");
  assert.match(context, /Chrome on Windows 10/);
  assert.match(context, /Sha Tin, Hong Kong/);
  assert.match(context, /Only approve if you started this login yourself/);
  await accessible(phone.page, "the approval screen");
  await shoot(phone.page, "en-approve");
  await phone.page.uncheck("#scope-birthdate");
  // A wrong-length code is caught before anything is sent.
  await phone.page.fill("#match", "1");
  await phone.page.click("#approve");
  assert.match(await phone.page.textContent("#match-error"), /two digits/);
  // By keyboard alone: type the code, Tab to "Approve with passkey", press Enter.
  await phone.page.fill("#match", "");
  await phone.page.focus("#match");
  await phone.page.keyboard.type(matchCode);
  await phone.page.keyboard.press("Tab");
  assert.equal(await phone.page.evaluate(() => document.activeElement.id), "approve", "focus moves from the code to Approve");
  await phone.page.keyboard.press("Enter");
  await phone.page.waitForSelector("#outcome");
  await accessible(phone.page, "the approved screen");

  const tokens = await finishLogin(page, login);
  const claims = tokens.claims();
  assert.equal(claims.acr, "basic");
  assert.deepEqual(claims.amr, ["pop", "mfa"], "approved with a user-verified passkey");
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.name, person.name_en);
  assert.equal(info.birthdate, undefined, "the unticked item was not released");
  phone.refresh = tokens.refresh_token;
  await desktop.close();
});

test("a wrong matching code cancels the login", async () => {
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await desktop.newPage();
  await startLogin(page);
  const matchCode = (await page.textContent("#match-code")).trim();
  await phone.page.goto(await page.getAttribute("#open-app", "href"));
  await phone.page.fill("#match", matchCode === "00" ? "01" : "00");
  await phone.page.click("#approve");
  assert.match(await phone.page.locator("#alert").textContent(), /cancelled/);
  // The request is over: the app says so and offers no button that could only fail again.
  assert.match(await phone.page.textContent("h1"), /Login request ended/);
  assert.equal(await phone.page.locator("#approve").count(), 0);
  await accessible(phone.page, "the ended screen");
  // The desktop is sent back to the service, which hears that the login ended.
  await page.waitForURL((u) => u.href.startsWith(callback), { timeout: 15000 });
  assert.equal(new URL(page.url()).searchParams.get("error"), "access_denied");
  await desktop.close();
});

test("RP-initiated logout asks the citizen, and ends the session only from the browser that logged in", async () => {
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB" });
  const page = await desktop.newPage();
  const login = await startLogin(page);
  await phone.page.goto(await page.getAttribute("#open-app", "href"));
  await phone.page.fill("#match", (await page.textContent("#match-code")).trim());
  await phone.page.click("#approve");
  await phone.page.waitForSelector("#outcome");
  const tokens = await finishLogin(page, login);
  const endSession = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: bye, state: "bye" });

  // Opened anywhere else (a leaked ID token in a link), the page asks; confirming there ends nothing.
  const elsewhere = await browser.newContext();
  const other = await elsewhere.newPage();
  await other.goto(endSession.href);
  await other.click("#logout-confirm");
  await other.waitForURL((u) => u.href.startsWith(bye));
  await elsewhere.close();
  const still = await oidc.refreshTokenGrant(config, tokens.refresh_token);

  // In the browser that logged in: the question, then the session ends and the service is back.
  await page.goto(endSession.href);
  assert.match(await page.textContent("h1"), /Log out of .*Transport Department.*\?/);
  await accessible(page, "the logout confirmation");
  await page.click("#logout-confirm");
  await page.waitForURL((u) => u.href.startsWith(bye), { timeout: 15000 });
  assert.equal(new URL(page.url()).searchParams.get("state"), "bye");
  await assert.rejects(oidc.refreshTokenGrant(config, still.refresh_token), (e) => e.error === "invalid_grant");
  await desktop.close();
});

test("denying a request sends the desktop back to the service with access_denied", async () => {
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await desktop.newPage();
  const login = await startLogin(page);
  await phone.page.goto(await page.getAttribute("#open-app", "href"));
  await phone.page.click("#deny");
  await phone.page.waitForSelector("#outcome");
  assert.match(await phone.page.textContent("h1"), /denied/);
  await accessible(phone.page, "the denied screen");
  await page.waitForURL((u) => u.href.startsWith(callback));
  const back = new URL(page.url());
  assert.equal(back.searchParams.get("error"), "access_denied");
  assert.equal(back.searchParams.get("state"), login.state);
  await desktop.close();
});

test("same-device login: “Open civpass app” needs no matching code and the service page continues", async () => {
  const page = await phone.context.newPage();
  const login = await startLogin(page);
  const [app] = await Promise.all([phone.context.waitForEvent("page"), page.click("#open-app")]);
  // The app opened in a new tab of the same browser: give that tab the phone's passkey.
  const tab = await addAuthenticator(app);
  const { credentials } = await phone.cdp.send("WebAuthn.getCredentials", { authenticatorId: phone.authenticatorId });
  await tab.cdp.send("WebAuthn.addCredential", { authenticatorId: tab.authenticatorId, credential: credentials[0] });
  await app.waitForSelector("#approve");
  assert.equal(await app.locator("#match").count(), 0, "no matching code in the browser that started the login");
  await app.click("#approve");
  await app.waitForSelector("#outcome");
  const tokens = await finishLogin(page, login);
  assert.equal(tokens.claims().sub.length > 0, true);
  // The counter moved in this tab's copy of the passkey; keep the phone's in step.
  const moved = await tab.cdp.send("WebAuthn.getCredentials", { authenticatorId: tab.authenticatorId });
  await phone.cdp.send("WebAuthn.removeCredential", { authenticatorId: phone.authenticatorId, credentialId: credentials[0].credentialId });
  await phone.cdp.send("WebAuthn.addCredential", { authenticatorId: phone.authenticatorId, credential: moved.credentials[0] });
  await app.close();
  await page.close();
});

test("the app and the login page switch language, and follow Accept-Language and ui_locales", async () => {
  const { page } = phone;
  await page.goto(`${base}/app/`);
  await page.waitForSelector("#services-link");
  await shoot(page, "en-home");
  await switchTo(page, "zh-HK", "#services-link");
  assert.match(await page.textContent("#services-link"), /我的服務/);
  assert.equal(await page.getAttribute("button[data-lang='zh-HK']", "aria-pressed"), "true");
  await accessible(page, "the home screen in Traditional Chinese");
  await shoot(page, "zh-HK-home");
  await switchTo(page, "zh-CN", "#services-link");
  assert.match(await page.textContent("#services-link"), /我的服务/);
  await accessible(page, "the home screen in Simplified Chinese");
  await switchTo(page, "zh-HK", "#services-link");
  // The choice is remembered for the server's pages too.
  await page.reload();
  await page.waitForFunction(() => document.documentElement.lang === "zh-HK");
  await switchTo(page, "en", "#services-link");

  const chinese = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "zh-HK" });
  const desk = await chinese.newPage();
  await startLogin(desk);
  assert.equal(await desk.getAttribute("html", "lang"), "zh-HK");
  assert.match(await desk.textContent("h1"), /登入/);
  await accessible(desk, "the desktop login page in Traditional Chinese");
  // 200% zoom of a 360 px phone: the login page reflows without sideways scrolling.
  await desk.setViewportSize({ width: 180, height: 400 });
  assert.deepEqual(await overflowing(desk), [], "the login page reflows at 200% zoom");
  await desk.setViewportSize({ width: 1280, height: 800 });
  await desk.click("a[hreflang='zh-CN']");
  assert.equal(await desk.getAttribute("html", "lang"), "zh-CN");
  assert.match(await desk.textContent("h1"), /登录/);
  // Error pages are translated and accessible too, in the language chosen last (zh-CN above).
  const error = await chinese.newPage();
  await error.goto(`${base}/login/no-such-request`);
  assert.match(await error.textContent("h1"), /未找到登录请求/);
  await accessible(error, "an error page");
  await chinese.close();

  const english = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB" });
  const hinted = await english.newPage();
  await startLogin(hinted, { ui_locales: "zh-CN en" });
  assert.equal(await hinted.getAttribute("html", "lang"), "zh-CN", "ui_locales wins over Accept-Language");
  await english.close();
});

test("My services shows each service and what it received, and unlinking stops its tokens", async () => {
  const { page } = phone;
  await page.goto(`${base}/app/services`);
  await page.click("#unlock");
  await page.waitForSelector(".service");
  assert.match(await page.textContent(".service h2"), /Transport Department/);
  const received = await page.textContent(".service");
  assert.match(received, /English name/);
  assert.match(received, /at login|requested by the service/);
  await accessible(page, "my services");
  await shoot(page, "en-services");
  await switchTo(page, "zh-HK", ".service");
  await shoot(page, "zh-HK-services");
  await switchTo(page, "en", ".service");

  await page.click(".service button[data-client]");
  await page.click(".confirm button.danger");
  await page.waitForSelector("#notice");
  assert.match(await page.textContent("#notice"), /unlinked/);
  assert.equal(await page.locator(".service").count(), 0);
  await assert.rejects(oidc.refreshTokenGrant(config, phone.refresh), (e) => e.error === "invalid_grant", "the service's refresh token died with the link");
});

test("My data shows the verified identity held, in both languages", async () => {
  const { page } = phone;
  await page.goto(`${base}/app/data`);
  // The app session opened for My services still holds; a new one is asked for only if not.
  if (await page.locator("#unlock").count()) await page.click("#unlock");
  await page.waitForSelector("#my-data");
  const text = await page.textContent("#my-data");
  assert.ok(text.includes(person.hkid) && text.includes(person.name_en) && text.includes(person.date_of_birth), `${text} vs ${JSON.stringify(person)}`);
  await accessible(page, "my data");
  await shoot(page, "en-data");
  await switchTo(page, "zh-HK", "#my-data");
  assert.match(await page.textContent("#my-data"), /身份證/);
  await shoot(page, "zh-HK-data");
  await switchTo(page, "en", "#my-data");
});

test("My e-ME keeps details with their source, refuses bad values field by field, and verifies the mobile by SMS code, in three languages", async () => {
  const { page } = phone;
  await page.goto(`${base}/app/eme`);
  if (await page.locator("#unlock").count()) await page.click("#unlock");
  await page.waitForSelector("#eme-form");
  assert.ok((await page.textContent("#registry-fields")).includes(person.hkid));
  await page.fill("#eme-phone_number", "61234567");
  await page.fill("#eme-email", "tester@example.hk");
  await page.selectOption("#eme-title", "Ms");
  await page.fill("#eme-en-address-building", "Harmony Court");
  await page.fill("#eme-en-address-district", "Sha Tin");
  await page.click("#eme-save");
  await page.waitForSelector("#eme-phone_number[aria-invalid='true']");
  assert.match(await page.textContent("#eme-phone_number-error"), /\+852/);
  await accessible(page, "My e-ME with a refused value");
  await page.fill("#eme-phone_number", "+852 6123 4567");
  await page.click("#eme-save");
  await page.waitForSelector("#notice");
  assert.match(await page.textContent("#notice"), /saved/);
  assert.match(await page.textContent("#eme-email-source"), /not verified/);
  assert.equal(await page.inputValue("#eme-phone_number"), "+85261234567");
  assert.deepEqual(await overflowing(page), [], "nothing sticks out on a phone");
  await accessible(page, "My e-ME");
  await shoot(page, "en-eme");
  for (const tag of ["zh-HK", "zh-CN"]) {
    await switchTo(page, tag, "#eme-form");
    await accessible(page, `My e-ME in ${tag}`);
  }
  await shoot(page, "zh-CN-eme");
  await switchTo(page, "en", "#eme-form");

  // An address proof: known by its content, listed, deletable.
  const bill = join(dataDir, "bill.pdf");
  writeFileSync(bill, "%PDF-1.4\n% a synthetic electricity bill\n");
  await page.setInputFiles("#proof-file", bill);
  await page.waitForSelector("#proofs li");
  assert.match(await page.textContent("#notice"), /document is added/);
  assert.match(await page.textContent("#proofs"), /PDF/);
  const fake = join(dataDir, "bill.png");
  writeFileSync(fake, "<html>not an image</html>");
  await page.setInputFiles("#proof-file", fake);
  await page.waitForSelector("section[aria-labelledby='proof-heading'] #alert");
  assert.match(await page.textContent("#alert"), /PDF, JPEG or PNG/);
  await accessible(page, "My e-ME with an address proof");

  await page.click("#verify-phone_number");
  await page.waitForSelector("#sms-code");
  const sms = readFileSync(join(dataDir, "sandbox-messages", "sms.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((m) => m.to === "+85261234567").pop();
  await page.fill("#sms-code", sms.text.match(/code is (\d{6})/)[1]);
  await page.click("#confirm-code");
  await page.waitForFunction(() => /verified/.test(document.querySelector("#notice")?.textContent || "") && !/added/.test(document.querySelector("#notice").textContent));
  assert.match(await page.textContent("#eme-phone_number-source"), /Verified by a code sent by SMS/);
});

test("approval shows the form, the purpose, each item's values and essential ones, and releases only what stays ticked", async () => {
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB" });
  const page = await desktop.newPage();
  const details = JSON.stringify([{ type: "form_filling", form_name: "Residents' Parking Permit", form_number: "TD 561", fields: [{ name: "email", essential: true }, "phone_number", "address"] }]);
  const login = await startLogin(page, { scope: "openid", authorization_details: details, purpose: "To decide your permit" });
  const matchCode = (await page.textContent("#match-code")).trim();
  await phone.page.goto(await page.getAttribute("#open-app", "href"));
  await phone.page.waitForSelector("#approve");
  assert.match(await phone.page.textContent("#form-box"), /Residents' Parking Permit/);
  assert.match(await phone.page.textContent("#purpose"), /To decide your permit/);
  // The app session from My e-ME is still open: the values are shown.
  assert.match(await phone.page.textContent("#scope-email-claims"), /tester@example\.hk/);
  assert.match(await phone.page.textContent("#scope-phone-claims"), /\+85261234567/);
  assert.match(await phone.page.textContent("#scope-address-claims"), /Harmony Court, Sha Tin, New Territories/);
  assert.match(await phone.page.textContent("li:has(#scope-email) .essential"), /needs this/);
  await accessible(phone.page, "the approval screen with a form");
  await shoot(phone.page, "en-approve-form");
  await phone.page.uncheck("#scope-phone");
  await phone.page.fill("#match", matchCode);
  await phone.page.click("#approve");
  await phone.page.waitForSelector("#outcome");
  const tokens = await finishLogin(page, login);
  const claims = tokens.claims();
  assert.equal(claims.email, "tester@example.hk");
  assert.equal(claims.phone_number, undefined, "the unticked item was not released");
  assert.equal(claims.address.locality, "Sha Tin");
  assert.equal(tokens.authorization_details[0].form_number, "TD 561");
  assert.deepEqual(tokens.authorization_details[0].fields.map((f) => f.name), ["email", "address"]);
  await desktop.close();
});

test("the app is installable, works at 200% zoom, and its shell (only) is available offline", async () => {
  const { page, context } = phone;
  const manifest = await (await fetch(`${base}/app/manifest.webmanifest`)).json();
  assert.equal(manifest.start_url, "/app/");
  assert.equal(manifest.display, "standalone");
  for (const icon of manifest.icons) {
    const res = await fetch(new URL(icon.src, base));
    assert.equal(res.status, 200, icon.src);
  }
  assert.ok(manifest.icons.some((i) => i.sizes === "512x512" && i.purpose === "maskable"));

  await page.goto(`${base}/app/`);
  await page.evaluate(() => navigator.serviceWorker.ready);
  // Chromium's own installability check (manifest, icons, service worker, secure context), in
  // a normal profile: test contexts are incognito, where nothing installs.
  const profile = mkdtempSync(join(tmpdir(), "civpass-profile-"));
  const normal = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"], ...PHONE });
  const installer = normal.pages()[0] ?? (await normal.newPage());
  await installer.goto(`${base}/app/`);
  await installer.evaluate(() => navigator.serviceWorker.ready);
  const cdp = await normal.newCDPSession(installer);
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  assert.deepEqual(installabilityErrors, [], "Chromium can install the app");
  await normal.close();
  rmSync(profile, { recursive: true, force: true });
  await page.reload();
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  // 200% zoom on a 360 px phone is a 180 CSS px wide page; nothing may need sideways scrolling.
  const zoomed = await browser.newContext({ viewport: { width: 180, height: 370 }, deviceScaleFactor: 2, locale: "zh-HK" });
  const small = await zoomed.newPage();
  for (const path of ["/app/", "/app/register"]) {
    await small.goto(`${base}${path}`);
    await small.waitForSelector("h1");
    assert.deepEqual(await overflowing(small), [], `${path} reflows at 200% zoom`);
  }
  await zoomed.close();

  await context.setOffline(true);
  await page.reload();
  await page.waitForSelector("h1");
  await page.waitForSelector("#offline", { state: "visible" });
  await context.setOffline(false);
  const cached = await page.evaluate(async () => {
    const urls = [];
    for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) urls.push(new URL(req.url).pathname);
    return urls;
  });
  assert.ok(cached.includes("/app/"), "the shell is cached");
  assert.deepEqual(cached.filter((u) => !u.startsWith("/app/") || u.startsWith("/app/api")), [], "nothing but the shell is cached");
  assert.equal(cached.some((u) => u.includes("/api/")), false, "no API answer is cached");
});

test("screenshots: registration, the login page and approval", { skip: !shots }, async () => {
  const en = await browser.newContext({ ...PHONE, locale: "en-GB" });
  await startLogin(await en.newPage());
  await shoot(en.pages()[0], "en-login-page");
  await en.close();
  const zh = await newPhone("zh-HK");
  await zh.page.goto(`${base}/app/register`);
  await zh.page.waitForSelector("#register-form");
  await zh.page.fill("#hkid", "A123456(7)");
  await zh.page.locator("#hkid").blur();
  await shoot(zh.page, "zh-HK-register");
  const desktop = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: "zh-HK" });
  const page = await desktop.newPage();
  await startLogin(page);
  await shoot(page, "zh-HK-login-page");
  await switchTo(phone.page, "zh-HK", "h1");
  await phone.page.goto(await page.getAttribute("#open-app", "href"));
  await phone.page.waitForSelector("#approve");
  await shoot(phone.page, "zh-HK-approve");
  await page.goto(`${base}/login/no-such-request`);
  await shoot(page, "zh-HK-error");
  await desktop.close();
  await zh.context.close();
});
