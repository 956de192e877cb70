// A browser-based relying party (a single-page app, a public client) on another origin: its own
// script reads discovery and the JWKS, exchanges the code, calls UserInfo and revokes, with
// Chromium enforcing CORS. A page on an origin the client did not register reads the public
// metadata but not the token endpoint's answers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { civpass, serve, launchChromium, enrolledWallet } from "./support.mjs";

const dataDir = mkdtempSync(join(tmpdir(), "civpass-spa-"));
let server, base, spa, spaOrigin, stranger, strangerOrigin, browser, wallet, clientId;

/** The app's one page: logs in with the code flow and PKCE, then shows what its calls read. */
function page(config) {
  return `<!doctype html><meta charset="utf-8"><title>Library booking (test SPA)</title>
<button id="login">Log in with civpass</button><pre id="result"></pre>
<script type="module">
const config = ${JSON.stringify(config)};
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const show = (value) => { document.getElementById("result").textContent = JSON.stringify(value); };
async function attempt(call) { try { return await call(); } catch (e) { return "blocked: " + e.name; } }
const meta = await attempt(async () => (await fetch(config.issuer + "/.well-known/openid-configuration")).json());
const jwks = await attempt(async () => (await fetch(meta.jwks_uri)).json());
const redirect = location.origin + "/callback";
document.getElementById("login").onclick = async () => {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("verifier", verifier);
  sessionStorage.setItem("keep", location.search.includes("keep") ? "1" : "");
  const url = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({ client_id: config.clientId, redirect_uri: redirect, response_type: "code", scope: "openid profile", state: "s1", code_challenge: challenge, code_challenge_method: "S256" })) url.searchParams.set(k, v);
  location.assign(url);
};
const form = (fields) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields) });
if (location.pathname === "/callback") {
  const code = new URLSearchParams(location.search).get("code");
  const tokens = await attempt(async () => (await fetch(meta.token_endpoint, form({ grant_type: "authorization_code", code, redirect_uri: redirect, code_verifier: sessionStorage.getItem("verifier"), client_id: config.clientId }))).json());
  const userinfo = await attempt(async () => (await fetch(meta.userinfo_endpoint, { headers: { authorization: "Bearer " + tokens.access_token } })).json());
  if (sessionStorage.getItem("keep")) {
    show({ access_token: tokens.access_token });
  } else {
    const revoked = await attempt(async () => (await fetch(meta.revocation_endpoint, form({ token: tokens.refresh_token, client_id: config.clientId }))).status);
    show({ keys: jwks.keys?.length, token_type: tokens.token_type, name: userinfo.name, revoked });
  }
} else if (location.search.includes("probe")) {
  const stolen = new URLSearchParams(location.search).get("token");
  const userinfo = await attempt(async () => (await fetch(meta.userinfo_endpoint, { headers: { authorization: "Bearer " + stolen } })).json());
  const refused = await attempt(async () => (await fetch(meta.token_endpoint, form({ grant_type: "authorization_code", code: "x", client_id: config.clientId }))).json());
  show({ issuer: meta.issuer, keys: jwks.keys?.length, userinfo: typeof userinfo === "string" ? userinfo : "read", refused: refused.error ?? refused });
}
</script>`;
}

function serveApp(config) {
  return createServer((req, res) => { res.writeHead(200, { "content-type": "text/html" }); res.end(page(config)); });
}

before(async () => {
  ({ server, base } = await serve(dataDir));

  // The app and a stranger's page, each on its own origin; the client registers only the app's.
  spa = serveApp({ issuer: base, get clientId() { return clientId; } });
  await new Promise((resolve) => spa.listen(0, "127.0.0.1", resolve));
  spaOrigin = `http://127.0.0.1:${spa.address().port}`;
  stranger = serveApp({ issuer: base, get clientId() { return clientId; } });
  await new Promise((resolve) => stranger.listen(0, "127.0.0.1", resolve));
  strangerOrigin = `http://127.0.0.1:${stranger.address().port}`;

  const client = JSON.parse(await civpass("client", "create", "--data-dir", dataDir, "--name", "Library booking", "--public", "--redirect-uri", `${spaOrigin}/callback`, "--json"));
  clientId = client.client_id;
  wallet = await enrolledWallet(dataDir, base, 120);

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  spa?.close();
  stranger?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Opens the app at `url`, logs in (the wallet approving), and returns what the app shows. */
async function logInThroughTheApp(page, url) {
  await page.goto(url);
  await page.locator("#login").click();
  await page.waitForURL((u) => u.href.startsWith(`${base}/login/`));
  const matchCode = (await page.locator("#match-code").textContent()).trim();
  const link = await page.locator("#open-app").getAttribute("href");
  await civpass("wallet", "approve", "--wallet", wallet, link, "--match", matchCode);
  await page.waitForURL((u) => u.href.startsWith(`${spaOrigin}/callback`), { timeout: 15000 });
  await page.waitForFunction(() => document.getElementById("result").textContent !== "");
  return JSON.parse(await page.locator("#result").textContent());
}

test("a single-page app on its registered origin logs in and reads token, UserInfo and revocation answers", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const result = await logInThroughTheApp(page, `${spaOrigin}/`);
  assert.ok(result.keys >= 1, "the JWKS was read");
  assert.equal(result.token_type, "Bearer");
  assert.ok(result.name, "UserInfo was read");
  assert.equal(result.revoked, 200);
  await context.close();
});

test("a page on an origin the client did not register reads discovery, the JWKS and errors, not the citizen's data", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The app logs in and keeps its access token; a stranger's page that got hold of it tries it.
  const { access_token: stolen } = await logInThroughTheApp(page, `${spaOrigin}/?keep`);
  assert.ok(stolen);
  await page.goto(`${strangerOrigin}/?probe&token=${encodeURIComponent(stolen)}`);
  await page.waitForFunction(() => document.getElementById("result").textContent !== "");
  const result = JSON.parse(await page.locator("#result").textContent());
  assert.equal(result.issuer, base);
  assert.ok(result.keys >= 1);
  assert.equal(result.userinfo, "blocked: TypeError", "Chromium withholds UserInfo's answer from the stranger");
  assert.equal(result.refused, "invalid_grant", "an error answer, which holds nothing, is readable");
  await context.close();
});
