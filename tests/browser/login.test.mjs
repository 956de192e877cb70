// The login page in a real browser (Debian's Chromium through playwright-core) and Node's
// openid-client as an independent relying party: the page must continue to the service by
// itself once the app approves.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as oidc from "openid-client";
import { civpass, serve, launchChromium, run, enrolledWallet } from "./support.mjs";

const dataDir = mkdtempSync(join(tmpdir(), "civpass-browser-"));
let server, base, rp, callbackBase, browser, config, wallet;

before(async () => {
  ({ server, base } = await serve(dataDir, "--operator-name", "Test Digital Office", "--help-url", "https://help.example/civpass"));

  rp = createServer((req, res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<h1>Signed in to the test service</h1>"); });
  await new Promise((resolve) => rp.listen(0, "127.0.0.1", resolve));
  callbackBase = `http://127.0.0.1:${rp.address().port}/callback`;

  const client = JSON.parse(await civpass("client", "create", "--data-dir", dataDir, "--name", "Browser test service", "--redirect-uri", callbackBase, "--json"));
  config = await oidc.discovery(new URL(base), client.client_id, { client_secret: client.client_secret, id_token_signed_response_alg: "ES256" }, oidc.ClientSecretBasic(client.client_secret), { execute: [oidc.allowInsecureRequests] });

  wallet = await enrolledWallet(dataDir, base, 100);

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  rp?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startLogin(page) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: callbackBase, scope: "openid profile birthdate", state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  });
  await page.goto(url.href);
  const matchCode = (await page.locator("#match-code").textContent()).trim();
  const link = await page.locator("#open-app").getAttribute("href");
  return { verifier, state, nonce, matchCode, link };
}

test("the login page continues to the service by itself after approval, and openid-client accepts the result", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const login = await startLogin(page);
  assert.match(login.matchCode, /^\d\d$/);
  assert.ok(login.link.startsWith(`${base}/app/login?request=`));
  assert.equal(await page.locator(".qr svg").count(), 1, "the page shows the QR code");
  // The QR code is drawn by civpass itself: a real decoder must read the app link from it.
  const shot = join(dataDir, "qr.png");
  await page.locator(".qr svg").screenshot({ path: shot });
  const { stdout: decoded } = await run("zbarimg", ["--quiet", "--raw", shot]);
  assert.equal(decoded.trim(), login.link);

  await civpass("wallet", "approve", "--wallet", wallet, login.link, "--match", login.matchCode);
  await page.waitForURL((u) => u.href.startsWith(callbackBase), { timeout: 15000 });

  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce,
  });
  const claims = tokens.claims();
  assert.equal(claims.iss, base);
  assert.equal(claims.acr, "basic");
  assert.deepEqual(claims.amr, ["swk"]);
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.ok(info.name && info.birthdate);
  assert.equal(info.sub, claims.sub);

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  await context.close();
});

test("a denied login sends the browser back with access_denied", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const login = await startLogin(page);
  await civpass("wallet", "approve", "--wallet", wallet, login.link, "--deny");
  await page.waitForURL((u) => u.href.startsWith(callbackBase), { timeout: 15000 });
  const back = new URL(page.url());
  assert.equal(back.searchParams.get("error"), "access_denied");
  assert.equal(back.searchParams.get("code"), null);
  await context.close();
});

test("another browser cannot open someone else's login page", async () => {
  const mine = await browser.newContext();
  const page = await mine.newPage();
  await startLogin(page);
  const loginUrl = page.url();
  const other = await browser.newContext();
  const response = await (await other.newPage()).goto(loginUrl);
  assert.equal(response.status(), 403);
  await mine.close();
  await other.close();
});

test("on a phone the login page leads with “Open civpass app”; on a desktop with the QR code", async () => {
  const top = async (page, selector) => (await page.locator(selector).boundingBox()).y;
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  await startLogin(small);
  assert.ok(await top(small, "#open-app") < await top(small, ".qr"), "the same-device action comes first");
  assert.ok(await top(small, "#open-app") < 844, "and is on the first screen");
  await phone.close();
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const large = await desktop.newPage();
  await startLogin(large);
  assert.ok(await top(large, ".qr") < await top(large, "#open-app"), "the QR code comes first");
  await desktop.close();
});

test("every page names the operator and links its privacy notice and help, in all three languages", async () => {
  const expected = {
    en: { operated: "Operated by Test Digital Office.", privacy: "Privacy notice", help: "Help", cancel: "Cancel and go back" },
    "zh-HK": { operated: "由Test Digital Office營運。", privacy: "私隱政策", help: "說明", cancel: "取消並返回" },
    "zh-CN": { operated: "由Test Digital Office运营。", privacy: "隐私政策", help: "帮助", cancel: "取消并返回" },
  };
  for (const [lang, text] of Object.entries(expected)) {
    const context = await browser.newContext({ locale: lang, extraHTTPHeaders: { "accept-language": lang } });
    const page = await context.newPage();
    await startLogin(page);
    assert.equal(await page.getAttribute("html", "lang"), lang);
    assert.equal((await page.textContent("#operated-by")).trim(), text.operated, lang);
    assert.equal((await page.textContent("#privacy-link")).trim(), text.privacy, lang);
    assert.equal((await page.textContent("#help-link")).trim(), text.help, lang);
    assert.equal(await page.getAttribute("#help-link", "href"), "https://help.example/civpass", "the operator's own help");
    assert.equal((await page.textContent("#cancel")).trim(), text.cancel, lang);
    // The built-in privacy notice, in the page's language.
    await page.click("#privacy-link");
    await page.waitForURL((u) => u.pathname === "/privacy");
    assert.equal((await page.textContent("h1")).trim(), text.privacy, lang);
    assert.equal((await page.textContent("#operated-by")).trim(), text.operated, lang);
    // The landing page too.
    await page.goto(`${base}/?lang=${lang}`);
    assert.equal((await page.textContent("#operated-by")).trim(), text.operated, lang);
    assert.ok(await page.locator('a[href="/app/"]').count() === 1, "the landing page links the app");
    await context.close();
  }
});

test("“Cancel and go back” ends the login and returns to the service with access_denied", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const login = await startLogin(page);
  await page.click("#cancel");
  await page.waitForURL((u) => u.href.startsWith(callbackBase), { timeout: 15000 });
  const back = new URL(page.url());
  assert.equal(back.searchParams.get("error"), "access_denied");
  assert.equal(back.searchParams.get("state"), login.state);
  assert.equal(back.searchParams.get("iss"), base);
  // The app can no longer approve it.
  await assert.rejects(civpass("wallet", "approve", "--wallet", wallet, login.link, "--match", login.matchCode));
  await context.close();
});

test("the app opened at another address than the issuer's says why passkeys cannot work there", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const listening = base.replace("localhost", "127.0.0.1");
  await page.goto(`${listening}/app/`);
  await page.waitForSelector("#wrong-origin");
  assert.match(await page.textContent("#wrong-origin"), new RegExp(base.replace(/[.:/]/g, "\\$&")));
  assert.equal(await page.getAttribute("#open-at-issuer", "href"), `${base}/app/`);
  await context.close();
});
