// A service using civpass e-ME through plain OpenID Connect (openid-client) and checking what
// civpass sends it (jose). Each function is what a service's own code would do; docs/EME.md
// walks through them, and service.test.mjs runs them against a real civpass in CI.
import * as oidc from "openid-client";
import * as jose from "jose";

/** The provider's metadata and this service's client (client_secret_basic). */
export async function connect(issuer, clientId, clientSecret, { insecure = false } = {}) {
  const execute = insecure ? [oidc.allowInsecureRequests] : [];
  return oidc.discovery(new URL(issuer), clientId, clientSecret, oidc.ClientSecretBasic(clientSecret), { execute });
}

/**
 * The authorization URL asking for e-ME fields by the `claims` parameter: the e-mail address
 * as essential in the ID token, the mobile and address from UserInfo, and the registry's
 * date of birth as OpenID Connect for Identity Assurance `verified_claims`; with a `purpose`.
 */
export async function askForFields(config, redirectUri) {
  const pending = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
  const claims = {
    id_token: { email: { essential: true } },
    userinfo: {
      phone_number: null,
      address: null,
      verified_claims: { verification: { trust_framework: null }, claims: { birthdate: null } },
    },
  };
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: "openid", claims: JSON.stringify(claims),
    purpose: "To register you for the 2027 community sports programme",
    state: pending.state, nonce: pending.nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier), code_challenge_method: "S256",
  });
  return { url, pending };
}

/**
 * The authorization URL filling a named form (RFC 9396 `authorization_details`, civpass type
 * `form_filling`); `anonymous` asks for an anonymous filling (a one-time `sub`, no link).
 */
export async function fillForm(config, redirectUri, { anonymous = false } = {}) {
  const pending = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
  const details = [{
    type: "form_filling",
    form_name: "Application for a Library Card",
    form_number: "LCSD 102",
    description: "A card for the public libraries",
    purpose: "To issue your library card",
    fields: ["given_name", "family_name", { name: "email", essential: true }, "address"],
    anonymous,
  }];
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: "openid", authorization_details: JSON.stringify(details),
    state: pending.state, nonce: pending.nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier), code_challenge_method: "S256",
  });
  return { url, pending };
}

/** The callback: the code becomes tokens; the ID token's claims, and UserInfo's if linked. */
export async function finish(config, callbackUrl, pending) {
  const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce,
  });
  const idToken = tokens.claims();
  const anonymous = idToken.sub.startsWith("anon_");
  const userinfo = anonymous ? null : await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
  return { tokens, idToken, userinfo, form: tokens.authorization_details?.[0] ?? null };
}

/**
 * A Security Event Token civpass pushed to this service's `security_events_push_uri` (RFC 8935:
 * the request body, `application/secevent+jwt`), verified against civpass's JWKS: its type,
 * issuer and audience. Answer 202 when it verifies, 400 otherwise.
 */
export async function verifySecurityEvent(config, body) {
  const metadata = config.serverMetadata();
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { payload } = await jose.jwtVerify(body, jwks, {
    issuer: metadata.issuer, audience: config.clientMetadata().client_id, typ: "secevent+jwt",
  });
  return payload;
}

/** A consent receipt a citizen shows (a JWT civpass signed), checked against the JWKS. */
export async function verifyConsentReceipt(config, receipt) {
  const metadata = config.serverMetadata();
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
  const { payload } = await jose.jwtVerify(receipt, jwks, { issuer: metadata.issuer, typ: "consent-receipt+jwt" });
  return payload;
}
