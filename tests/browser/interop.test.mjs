// Interoperability with Node's openid-client (an independent relying-party library) beyond the
// basic code flow: private_key_jwt, pushed authorization requests, signed request objects,
// refresh rotation, revocation, introspection and the client-credentials grant. The login itself
// is approved by the command-line wallet; no browser is needed here.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as oidc from "openid-client";
import { civpass, serve, enrolledWallet } from "./support.mjs";

const dataDir = mkdtempSync(join(tmpdir(), "civpass-interop-"));
const callback = "http://127.0.0.1:9/callback";
let server, base, wallet;

before(async () => {
  ({ server, base } = await serve(dataDir));
  wallet = await enrolledWallet(dataDir, base, 300);
});

after(() => {
  server?.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
});

/** A P-256 key pair; the public half goes to civpass as the client's JWK Set. */
async function clientKey() {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  const kid = `k${Date.now()}`;
  const file = join(dataDir, `${kid}.json`);
  writeFileSync(file, JSON.stringify({ keys: [{ ...jwk, kid, alg: "ES256", use: "sig" }] }));
  return { file, key: { key: pair.privateKey, kid } };
}

async function register(...args) {
  return JSON.parse(await civpass("client", "create", "--data-dir", dataDir, "--name", "Interop service", "--json", ...args));
}

/** Follows the authorization URL like a browser, approves in the wallet, returns the callback URL. */
/** The browser-binding cookie of the latest login, as a browser would keep it. */
let lastCookie;

async function login(url) {
  let res = await fetch(url, { redirect: "manual" });
  assert.equal(res.status, 303, await res.text());
  const cookie = res.headers.get("set-cookie").split(";")[0];
  lastCookie = cookie;
  const page = new URL(res.headers.get("location"), base);
  const html = await (await fetch(page, { headers: { cookie } })).text();
  const match = /id="match-code">(\d\d)</.exec(html)[1];
  const link = /id="open-app" href="([^"]+)"/.exec(html)[1].replaceAll("&amp;", "&");
  await civpass("wallet", "approve", "--wallet", wallet, link, "--match", match);
  res = await fetch(page, { headers: { cookie }, redirect: "manual" });
  assert.equal(res.status, 303);
  return new URL(res.headers.get("location"));
}

function pkce() {
  const verifier = oidc.randomPKCECodeVerifier();
  return { verifier, state: oidc.randomState(), nonce: oidc.randomNonce() };
}

async function params(p) {
  return {
    redirect_uri: callback, scope: "openid profile", state: p.state, nonce: p.nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(p.verifier), code_challenge_method: "S256",
  };
}

test("private_key_jwt with a pushed authorization request, refresh, introspection and revocation", async () => {
  const { file, key } = await clientKey();
  const client = await register("--redirect-uri", callback, "--auth-method", "private_key_jwt", "--jwks", file, "--require-par");
  const config = await oidc.discovery(new URL(base), client.client_id, { id_token_signed_response_alg: "ES256" }, oidc.PrivateKeyJwt(key), { execute: [oidc.allowInsecureRequests] });
  const p = pkce();
  const url = await oidc.buildAuthorizationUrlWithPAR(config, await params(p));
  assert.ok(url.searchParams.get("request_uri").startsWith("urn:ietf:params:oauth:request_uri:"));
  const back = await login(url);
  const tokens = await oidc.authorizationCodeGrant(config, back, { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce });
  const claims = tokens.claims();
  assert.equal(claims.iss, base);
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.ok(info.name);

  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  const active = await oidc.tokenIntrospection(config, refreshed.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, client.client_id);
  await oidc.tokenRevocation(config, refreshed.refresh_token);
  assert.equal((await oidc.tokenIntrospection(config, refreshed.access_token)).active, false);
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === "invalid_grant");
});

test("a signed request object (JAR), and a replayed refresh token ends the grant", async () => {
  const { file, key } = await clientKey();
  const client = await register("--redirect-uri", callback, "--auth-method", "private_key_jwt", "--jwks", file, "--require-signed-request");
  const config = await oidc.discovery(new URL(base), client.client_id, {}, oidc.PrivateKeyJwt(key), { execute: [oidc.allowInsecureRequests] });
  const p = pkce();
  const url = await oidc.buildAuthorizationUrlWithJAR(config, await params(p), key);
  assert.ok(url.searchParams.get("request"));
  const tokens = await oidc.authorizationCodeGrant(config, await login(url), { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce });
  const rotated = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (e) => e.error === "invalid_grant");
  await assert.rejects(oidc.refreshTokenGrant(config, rotated.refresh_token), (e) => e.error === "invalid_grant", "reuse revoked the whole grant");
});

test("the client-credentials grant with private_key_jwt and with a client secret", async () => {
  const { file, key } = await clientKey();
  const signing = await register("--auth-method", "private_key_jwt", "--jwks", file, "--grant-type", "client_credentials", "--scope", "api.read");
  const config = await oidc.discovery(new URL(base), signing.client_id, {}, oidc.PrivateKeyJwt(key), { execute: [oidc.allowInsecureRequests] });
  const tokens = await oidc.clientCredentialsGrant(config, { scope: "api.read" });
  assert.equal(tokens.scope, "api.read");
  assert.equal(tokens.refresh_token, undefined);
  await assert.rejects(oidc.clientCredentialsGrant(config, { scope: "openid" }), (e) => e.error === "invalid_scope");

  const secret = await register("--grant-type", "client_credentials", "--scope", "api.read");
  const basic = await oidc.discovery(new URL(base), secret.client_id, {}, oidc.ClientSecretBasic(secret.client_secret), { execute: [oidc.allowInsecureRequests] });
  const again = await oidc.clientCredentialsGrant(basic);
  const seen = await oidc.tokenIntrospection(basic, again.access_token);
  assert.equal(seen.sub, secret.client_id);
});

test("DPoP-bound tokens from a pushed request: code, UserInfo and refresh with the same key", async () => {
  const client = await register("--redirect-uri", callback, "--require-dpop", "--require-par");
  const config = await oidc.discovery(new URL(base), client.client_id, {}, oidc.ClientSecretPost(client.client_secret), { execute: [oidc.allowInsecureRequests] });
  const dpopKeys = await oidc.randomDPoPKeyPair("ES256");
  const DPoP = oidc.getDPoPHandle(config, dpopKeys);
  const p = pkce();
  // openid-client sends a DPoP proof with the push, which binds the code to the key (RFC 9449
  // section 10.1), and retries by itself when civpass answers use_dpop_nonce.
  const url = await oidc.buildAuthorizationUrlWithPAR(config, await params(p), { DPoP });
  const callbackUrl = await login(url);
  const checks = { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce };
  const stranger = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair("ES256"));
  await assert.rejects(oidc.authorizationCodeGrant(config, callbackUrl, checks, undefined, { DPoP: stranger }), (e) => e.error === "invalid_grant");
  const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, checks, undefined, { DPoP });
  assert.equal(tokens.token_type.toLowerCase(), "dpop");
  const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims().sub, { DPoP });
  assert.ok(info.name);
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  assert.equal(refreshed.token_type.toLowerCase(), "dpop");
  // Without the key, the bound refresh token is refused.
  await assert.rejects(oidc.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === "invalid_dpop_proof");
});

test("RP-initiated logout with openid-client's end-session URL", async () => {
  const bye = "https://rp.example/bye";
  const client = await register("--redirect-uri", callback, "--post-logout-redirect-uri", bye);
  const config = await oidc.discovery(new URL(base), client.client_id, {}, oidc.ClientSecretBasic(client.client_secret), { execute: [oidc.allowInsecureRequests] });
  const p = pkce();
  const tokens = await oidc.authorizationCodeGrant(config, await login(oidc.buildAuthorizationUrl(config, await params(p))), { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce });
  const cookie = lastCookie;
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: bye, state: "after" });
  // The end-session URL asks the citizen first; the session ends on the confirmation's POST,
  // from the browser the login happened in.
  let res = await fetch(url, { redirect: "manual", headers: { cookie } });
  assert.equal(res.status, 200);
  const html = await res.text();
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.append(name, value.replaceAll("&#x2f;", "/").replaceAll("&amp;", "&").replaceAll("&quot;", '"').replaceAll("&#x3d;", "="));
  }
  form.append("decision", "logout");
  res = await fetch(new URL("/logout", base), { method: "POST", body: form, redirect: "manual", headers: { cookie } });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), `${bye}?state=after`);
  await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (e) => e.error === "invalid_grant");
});

test("ID tokens signed with PS256 and EdDSA verify in openid-client", async () => {
  for (const alg of ["PS256", "EdDSA"]) {
    const client = await register("--redirect-uri", callback, "--id-token-alg", alg);
    const config = await oidc.discovery(new URL(base), client.client_id, { id_token_signed_response_alg: alg }, oidc.ClientSecretBasic(client.client_secret), { execute: [oidc.allowInsecureRequests] });
    const p = pkce();
    const tokens = await oidc.authorizationCodeGrant(config, await login(oidc.buildAuthorizationUrl(config, await params(p))), { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce });
    const header = JSON.parse(Buffer.from(tokens.id_token.split(".")[0], "base64url"));
    assert.equal(header.alg, alg);
    assert.equal(tokens.claims().iss, base);
  }
});

test("acr=plus in openid-client after an upgrade at a registration point", async () => {
  const client = await register("--redirect-uri", callback);
  const config = await oidc.discovery(new URL(base), client.client_id, {}, oidc.ClientSecretBasic(client.client_secret), { execute: [oidc.allowInsecureRequests] });
  // The operator's side: a point open at all hours, an officer assigned to it.
  const point = JSON.parse(await civpass("points", "add", "--data-dir", dataDir, "--json", "--kind", "post_office",
    "--name-en", "Interop Post Office", "--name-zh-hant", "互通郵局", "--name-zh-hans", "互通邮局",
    "--district", "Central", "--hours", "mon-sun 00:00-24:00"));
  const officer = JSON.parse(await civpass("staff", "add", "--data-dir", dataDir, "--json", "--name", "Officer Interop", "--role", "officer"));
  await civpass("staff", "assign", "--data-dir", dataDir, officer.id, point.id);
  // The citizen shows a code; the officer upgrades after checking the card; the phone confirms.
  const { code } = JSON.parse(await civpass("wallet", "registration-code", "--wallet", wallet, "--json"));
  const [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "300", "--json"));
  const act = JSON.parse(await civpass("counter", "upgrade", "--data-dir", dataDir, "--json", "--point", point.id,
    "--officer", officer.id, "--code", code, "--id-number", person.hkid, "--name-en", person.name_en, "--dob", person.date_of_birth));
  assert.equal(act.outcome, "awaiting_citizen");
  const [pending] = JSON.parse(await civpass("wallet", "pending", "--wallet", wallet, "--json"));
  const done = JSON.parse(await civpass("wallet", "confirm", pending.id, "--wallet", wallet, "--json"));
  assert.equal(done.tier, "plus");
  // A relying party that needs plus asks for it, and gets it.
  const p = pkce();
  const url = oidc.buildAuthorizationUrl(config, { ...(await params(p)), acr_values: "plus" });
  const tokens = await oidc.authorizationCodeGrant(config, await login(url), { pkceCodeVerifier: p.verifier, expectedState: p.state, expectedNonce: p.nonce });
  assert.equal(tokens.claims().acr, "plus");
});
