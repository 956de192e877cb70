// Runs service.mjs (the Node example of docs/EME.md) against a real civpass: a citizen's
// command-line wallet with a filled e-ME vault approves each login.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as service from "./service.mjs";

const bin = process.env.CIVPASS_BIN ?? new URL("../../../target/debug/civpass", import.meta.url).pathname;
const civpass = async (...args) => (await promisify(execFile)(bin, args, { env: { ...process.env, CIVPASS_LOG: "warn" } })).stdout;
const dataDir = mkdtempSync(join(tmpdir(), "civpass-eme-node-"));
const wallet = join(dataDir, "wallet.json");
const callback = "http://127.0.0.1:9/callback";
let server, base, config, receiver, events = [];

before(async () => {
  server = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--allow-private-uris"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, CIVPASS_LOG: "warn" } });
  const line = await new Promise((resolve) => createInterface({ input: server.stdout }).once("line", resolve));
  base = /\(issuer (\S+)\)/.exec(line)[1];
  // The service's RFC 8935 push endpoint: 202 for a SET that verifies, 400 otherwise.
  receiver = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    try {
      events.push(await service.verifySecurityEvent(config, body));
      res.writeHead(202).end();
    } catch (error) {
      res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ err: "invalid_request", description: String(error) }));
    }
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  // Registered dynamically (RFC 7591), as a developer would, with its push endpoint.
  const { initial_access_token: token } = JSON.parse(await civpass("client", "registration-token", "--data-dir", dataDir, "--json"));
  const registered = await fetch(`${base}/register`, {
    method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      client_name: "Leisure and Cultural Services", redirect_uris: [callback], token_endpoint_auth_method: "client_secret_basic",
      security_events_push_uri: `http://127.0.0.1:${receiver.address().port}/events`,
    }),
  });
  assert.equal(registered.status, 201, await registered.clone().text());
  const client = await registered.json();
  assert.match(client.security_events_push_uri, /\/events$/);
  config = await service.connect(base, client.client_id, client.client_secret, { insecure: true });
  const [person] = JSON.parse(await civpass("registry", "list", "--limit", "1", "--offset", "400", "--json"));
  await civpass("wallet", "enroll", "--wallet", wallet, "--server", base, "--id-number", person.hkid, "--name-en", person.name_en, "--dob", person.date_of_birth, "--evidence", "pass");
  await civpass("wallet", "eme", "set", "--wallet", wallet, "email=lee@example.hk", "phone_number=+85291112222", "address.building=Sunrise House", "address.district=Tai Po");
  config.person = person;
});

after(() => {
  server?.kill("SIGTERM");
  receiver?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The citizen's browser goes to `url`; the wallet approves with the matching code. */
async function approve(url) {
  let res = await fetch(url, { redirect: "manual" });
  const cookie = res.headers.get("set-cookie").split(";")[0];
  const page = new URL(res.headers.get("location"), base);
  const html = await (await fetch(page, { headers: { cookie } })).text();
  const match = /id="match-code">(\d\d)</.exec(html)[1];
  const link = /id="open-app" href="([^"]+)"/.exec(html)[1].replaceAll("&amp;", "&");
  await civpass("wallet", "approve", "--wallet", wallet, link, "--match", match);
  res = await fetch(page, { headers: { cookie }, redirect: "manual" });
  return new URL(res.headers.get("location"));
}

test("fields by the claims parameter, with verified_claims", async () => {
  const { url, pending } = await service.askForFields(config, callback);
  const { idToken, userinfo } = await service.finish(config, await approve(url), pending);
  assert.equal(idToken.email, "lee@example.hk");
  assert.equal(userinfo.phone_number, "+85291112222");
  assert.equal(userinfo.address.locality, "Tai Po");
  assert.equal(userinfo.verified_claims.claims.birthdate, config.person.date_of_birth);
  assert.equal(userinfo.verified_claims.verification.trust_framework, "hk_civpass");
  assert.equal(userinfo.birthdate, undefined, "asked for only as verified");
});

test("a form filled, linked and then anonymously", async () => {
  const linked = await service.fillForm(config, callback);
  const filled = await service.finish(config, await approve(linked.url), linked.pending);
  assert.equal(filled.form.form_name, "Application for a Library Card");
  assert.equal(filled.idToken.email, "lee@example.hk");
  assert.equal(filled.userinfo.address.building, "Sunrise House");

  const first = await service.fillForm(config, callback, { anonymous: true });
  const a = await service.finish(config, await approve(first.url), first.pending);
  const second = await service.fillForm(config, callback, { anonymous: true });
  const b = await service.finish(config, await approve(second.url), second.pending);
  assert.equal(a.idToken.email, "lee@example.hk");
  assert.notEqual(a.idToken.sub, b.idToken.sub, "one-time subjects");
  assert.notEqual(a.idToken.sub, filled.idToken.sub);
  assert.equal(a.tokens.refresh_token, undefined);
});

test("the consent receipt and the withdrawal events verify against civpass's JWKS", async () => {
  const receiptFile = join(dataDir, "receipt.jwt");
  await civpass("wallet", "receipt", "--wallet", wallet, config.clientMetadata().client_id, "--output", receiptFile);
  const receipt = await service.verifyConsentReceipt(config, readFileSync(receiptFile, "utf8"));
  assert.equal(receipt.consent.client_name, "Leisure and Cultural Services");
  // Each approval keeps its own purpose: the form's, and the sports programme's before it.
  const purposes = receipt.consent.approvals.map((approval) => approval.purpose);
  assert.ok(purposes.includes("To issue your library card"), JSON.stringify(receipt.consent));
  assert.equal(receipt.consent.approvals.at(-1).purpose, "To issue your library card");

  await civpass("wallet", "unlink", "--wallet", wallet, config.clientMetadata().client_id);
  for (let i = 0; i < 100 && !events.some((e) => e.events["https://civpass.dev/secevent/consent-ended"]); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const ended = events.find((e) => e.events["https://civpass.dev/secevent/consent-ended"]);
  assert.ok(ended, "the service heard that the consent ended");
  assert.equal(ended.events["https://civpass.dev/secevent/consent-ended"].reason, "withdrawn");
  assert.equal(ended.sub_id.format, "iss_sub");
  assert.ok(events.some((e) => e.events["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]));
});
