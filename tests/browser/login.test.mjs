// The login page in a real browser (Debian's Chromium through playwright-core) and Node's
// openid-client as an independent relying party: the page must continue to the service by
// itself once the app approves.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as oidc from "openid-client";
import { chromium } from "playwright-core";

const run = promisify(execFile);
const bin = process.env.CIVPASS_BIN ?? join(process.env.CARGO_TARGET_DIR ?? new URL("../../target", import.meta.url).pathname, "debug", "civpass");
const dataDir = mkdtempSync(join(tmpdir(), "civpass-browser-"));
let server, base, rp, callbackBase, browser, config, wallet;

async function civpass(...args) {
  const { stdout } = await run(bin, args, { env: { ...process.env, CIVPASS_LOG: "warn" } });
  return stdout;
}

before(async () => {
  server = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, CIVPASS_LOG: "warn" } });
  const line = await new Promise((resolve) => createInterface({ input: server.stdout }).once("line", resolve));
  base = /\(issuer (\S+)\)/.exec(line)[1];

  rp = createServer((req, res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<h1>Signed in to the test service</h1>"); });
  await new Promise((resolve) => rp.listen(0, "127.0.0.1", resolve));
  callbackBase = `http://127.0.0.1:${rp.address().port}/callback`;

  const client = JSON.parse(await civpass("client", "create", "--data-dir", dataDir, "--name", "Browser test service", "--redirect-uri", callbackBase, "--json"));
  config = await oidc.discovery(new URL(base), client.client_id, { client_secret: client.client_secret, id_token_signed_response_alg: "ES256" }, oidc.ClientSecretBasic(client.client_secret), { execute: [oidc.allowInsecureRequests] });

  const [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "100", "--json"));
  wallet = join(dataDir, "wallet.json");
  await civpass("wallet", "enroll", "--wallet", wallet, "--server", base, "--id-number", person.hkid, "--name-en", person.name_en, "--dob", person.date_of_birth, "--evidence", "pass");

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
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
