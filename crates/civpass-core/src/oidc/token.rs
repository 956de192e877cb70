//! The token endpoint, UserInfo and discovery: codes become tokens, tokens become claims, and
//! every release of personal data is recorded.

use civpass_crypto::jws::{Algorithm, peek_kid};
use civpass_crypto::secret::{hash_secret, pkce_s256_matches, random_token};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::consent::claims;
use crate::consent::model::{AnonymousFilling, FillingRecord};
use crate::consent::model::{Release, ReleaseChannel};
use crate::kernel::store::transact;
use crate::kernel::{Internal, telemetry};
use crate::oidc::OidcService;
use crate::oidc::assurance;
use crate::oidc::dpop::{DpopError, DpopRequest};
use crate::oidc::endpoints;
use crate::oidc::forms::FormRequest;
use crate::oidc::logout::per_session;
use crate::oidc::model::{AuthMethod, Client, Grant, GrantType};
use crate::oidc::store::Redemption;

/// What an ID token carries beyond the standard claims.
#[derive(Default)]
struct IdTokenExtras<'a> {
    nonce: Option<&'a str>,
    claims: Map<String, Value>,
}

/// The keyed hash under which an account's anonymous fillings are found (`consent::model::
/// AnonymousFilling`).
pub(crate) fn anonymous_lookup(
    ctx: &crate::kernel::Ctx,
    account_id: &crate::kernel::AccountId,
) -> String {
    ctx.secrets.lookup.hash(&[b"anonymous-filling", account_id.as_bytes()])
}

/// The names a release record lists for `claims`: each claim, and each claim inside
/// `verified_claims` as `verified_claims/NAME`.
fn release_names(claims: &Map<String, Value>) -> Vec<String> {
    let mut names = Vec::new();
    for (name, value) in claims {
        match value.get("claims").and_then(Value::as_object).filter(|_| name == "verified_claims") {
            Some(inner) => names.extend(inner.keys().map(|k| format!("verified_claims/{k}"))),
            None => names.push(name.clone()),
        }
    }
    names
}

/// RFC 7662 section 2.2 for an active access token (RFC 9449 section 6.2: a bound one is of
/// type DPoP and shows its key).
fn access_introspection(claims: &AccessClaims) -> Map<String, Value> {
    let mut answer = Map::new();
    answer.insert("active".into(), json!(true));
    let token_type = if claims.cnf.is_some() { "DPoP" } else { "Bearer" };
    answer.insert("token_type".into(), json!(token_type));
    for (name, value) in [
        ("scope", json!(claims.scope)),
        ("client_id", json!(claims.client_id)),
        ("sub", json!(claims.sub)),
        ("aud", json!(claims.aud)),
        ("iss", json!(claims.iss)),
        ("exp", json!(claims.exp)),
        ("iat", json!(claims.iat)),
        ("jti", json!(claims.jti)),
    ] {
        answer.insert(name.into(), value);
    }
    if let Some(cnf) = &claims.cnf {
        answer.insert("cnf".into(), json!(cnf));
    }
    answer
}

/// What kind of token of ours a string is.
enum TokenKind {
    Access(Box<AccessClaims>),
    Refresh,
}

/// RFC 6749 section 5.2 errors.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Unknown client, wrong secret, or a method the client may not use.
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// The client may not use this grant type.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("invalid_scope: {0}")]
    InvalidScope(&'static str),
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(&'static str),
    /// Retry with the nonce in the `DPoP-Nonce` header (RFC 9449 section 8).
    #[error("use_dpop_nonce")]
    UseDpopNonce,
    #[error(transparent)]
    Internal(#[from] Internal),
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
    /// The granted form (RFC 9396 section 7), for a form filling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
}

/// Claims of our ID tokens (OpenID Connect Core 1.0 section 2), with the released identity
/// claims beside them.
#[derive(Debug, Serialize)]
pub struct IdTokenClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    /// Left out (empty) in an anonymous filling's ID token: the level and the device kind
    /// would narrow down who filled the form.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub acr: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub amr: &'a [String],
    /// The login session (the grant): what RP-initiated and back-channel logout name.
    pub sid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    /// Identity claims the consent released (`consent::claims`).
    #[serde(flatten)]
    pub released: Map<String, Value>,
}

/// Claims of our JWT access tokens (RFC 9068).
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The grant, so that revocation takes effect before expiry; none for a client acting for
    /// itself (client credentials), whose tokens are short and stand for no citizen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<crate::kernel::GrantId>,
    /// The DPoP key the token is bound to (RFC 9449 section 6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserInfoError {
    #[error("invalid_token")]
    InvalidToken,
    /// A DPoP-bound token without a valid proof for it.
    #[error("invalid_dpop_proof")]
    InvalidDpopProof,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl OidcService {
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        dpop_jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let code_hash = hash_secret(code);
        let request =
            self.store.find_login_request_by_code(&code_hash).await.map_err(Internal::from)?;
        let request = request.ok_or(TokenError::InvalidGrant("the code is invalid"))?;
        let now = self.ctx.now();
        // Checks that do not consume the code: a stranger presenting a stolen code must not be
        // able to burn it for its rightful owner.
        if request.client_id != client.id {
            return Err(TokenError::InvalidGrant("the code was issued to another client"));
        }
        if redirect_uri != Some(request.redirect_uri.as_str()) {
            return Err(TokenError::InvalidGrant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !client.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(TokenError::UnauthorizedClient);
        }
        let verifier =
            code_verifier.ok_or(TokenError::InvalidRequest("code_verifier is required"))?;
        if !pkce_s256_matches(verifier, &request.code_challenge) {
            return Err(TokenError::InvalidGrant("the PKCE code_verifier does not match"));
        }
        if request.code_expires_at.is_none_or(|t| now >= t) {
            return Err(TokenError::InvalidGrant("the code has expired"));
        }
        // RFC 9449 section 10: a code bound to a DPoP key is redeemed only with a proof of it.
        match (&request.dpop_jkt, dpop_jkt) {
            (Some(_), None) => {
                return Err(TokenError::InvalidDpopProof(
                    "the code is bound to a DPoP key: a DPoP proof is required",
                ));
            }
            (Some(bound), Some(given)) if bound.as_str() != given => {
                return Err(TokenError::InvalidGrant("the code is bound to another DPoP key"));
            }
            _ => {}
        }
        let (Some(account_id), Some(auth_time)) = (request.account_id.clone(), request.auth_time)
        else {
            return Err(TokenError::InvalidGrant("the code is invalid"));
        };
        let account = self.identity.account(&account_id).await.map_err(Internal::from)?;
        let form = FormRequest::stored(request.authorization_details.as_deref());
        if let Some(form) = form.filter(|f| f.anonymous) {
            return self
                .anonymous_filling(client, &request, &account, form, code_hash, dpop_jkt)
                .await;
        }
        let refresh_token = random_token(32);
        let grant = Grant {
            id: self.ctx.new_id().to_string().into(),
            account_id: account.id.clone(),
            client_id: client.id.clone(),
            login_request_id: request.id.clone(),
            scopes: request.approved_scopes.clone(),
            claims_filter: request.claims_filter.clone(),
            verified_claims: request.verified_claims.clone(),
            authorization_details: request.authorization_details.clone(),
            auth_time,
            acr: account.tier.as_str().to_owned(),
            amr: request.amr.clone(),
            refresh_hash: hash_secret(&refresh_token),
            refresh_expires_at: now + self.ctx.settings.refresh_token_ttl,
            created_at: now,
            revoked_at: None,
            dpop_jkt: dpop_jkt.map(str::to_owned),
            browser_hash: Some(request.browser_hash.clone()),
        };
        // Claims the claims request asked for in the ID token, if the citizen released them.
        let names = claims::released(&grant.scopes, &grant.claims_filter);
        let extra = self
            .released_claims(
                &account,
                &names,
                &grant.verified_claims,
                "id_token",
                Some(&request.id_token_claims),
            )
            .await?;
        let mut released = vec!["sub".to_owned()];
        released.extend(release_names(&extra));
        let release = self.release(&grant, ReleaseChannel::IdToken, released);
        // The code, the grant it produces and what its ID token releases, together; a
        // replayed code revokes what it produced (RFC 6749 section 4.1.2) in the same breath.
        // The service hears that the session the first redemption began has ended, as it does
        // when a reused refresh token ends one (the produced grant is this login's: same
        // citizen, same client).
        let ended = self.logout_notice(client, &grant.account_id, None);
        let (issued, recorded) = (grant.clone(), release);
        let (redemption, queued, withdrawn) = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let redemption = tx.redeem_code(&code_hash, &issued.id).await?;
                let mut queued = Vec::new();
                let mut withdrawn = false;
                match &redemption {
                    // The consent the approval gave must still stand, unbroken since the
                    // approval: a citizen who withdrew it (unlinked the service) after
                    // approving is not linked again, even if they linked it anew since.
                    Redemption::Redeemed
                        if !tx
                            .consent_stands_since(&issued.account_id, &issued.client_id, auth_time)
                            .await? =>
                    {
                        withdrawn = true;
                    }
                    Redemption::Redeemed => {
                        tx.insert_grant(&issued).await?;
                        tx.insert_release(&recorded).await?;
                    }
                    Redemption::AlreadyRedeemed { grant_id: Some(produced) } => {
                        if tx.revoke_grant(produced, now).await? {
                            for notice in ended
                                .iter()
                                .flat_map(|t| per_session(t, std::slice::from_ref(produced)))
                            {
                                tx.insert_message(&notice).await?;
                                queued.push(notice);
                            }
                        }
                    }
                    Redemption::AlreadyRedeemed { grant_id: None } | Redemption::Unknown => {}
                }
                Ok((redemption, queued, withdrawn))
            })
        })
        .await
        .map_err(Internal::from)?;
        if withdrawn {
            return Err(TokenError::InvalidGrant(
                "the citizen withdrew the consent this code rests on",
            ));
        }
        match redemption {
            Redemption::Redeemed => telemetry::grant_issued(),
            Redemption::AlreadyRedeemed { .. } => {
                tracing::warn!(client_id = %client.id, "authorization code replayed; its grant is revoked");
                self.logout_queued(&queued);
                return Err(TokenError::InvalidGrant("the code has already been used"));
            }
            Redemption::Unknown => return Err(TokenError::InvalidGrant("the code is invalid")),
        }
        let id_token = IdTokenExtras { nonce: request.nonce.as_deref(), claims: extra };
        self.tokens(client, &grant, &grant.scopes, refresh_token, Some(id_token), dpop_jkt)
    }

    /// The DPoP key of a pushed authorization request, if it came with a proof (RFC 9449
    /// section 10.1); optional there even for clients that must use DPoP at the token endpoint.
    pub async fn pushed_request_dpop(
        &self,
        request: &DpopRequest<'_>,
    ) -> Result<Option<String>, TokenError> {
        self.check_dpop(request, None, self.ctx.settings.dpop_nonce).await.map_err(|e| match e {
            DpopError::UseNonce => TokenError::UseDpopNonce,
            DpopError::Invalid(why) => TokenError::InvalidDpopProof(why),
            DpopError::Internal(cause) => TokenError::Internal(cause),
        })
    }

    /// The DPoP key of a token request: checks the proof if there is one (with a nonce, unless
    /// turned off), and insists on one if the client or the platform requires bound tokens.
    pub async fn token_dpop(
        &self,
        client: &Client,
        request: &DpopRequest<'_>,
    ) -> Result<Option<String>, TokenError> {
        match self.pushed_request_dpop(request).await? {
            None if client.require_dpop || self.ctx.settings.require_dpop => {
                Err(TokenError::InvalidDpopProof("a DPoP proof is required"))
            }
            jkt => Ok(jkt),
        }
    }

    /// Rotates a refresh token (or, under FAPI 2.0, renews its lifetime). A token that a
    /// rotation already replaced means it leaked (or two copies of the client raced): the whole
    /// grant is revoked, so that neither the thief nor the client can go on (RFC 9700 section
    /// 4.14.2).
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    ///
    /// `scope` may narrow this response (RFC 6749 section 6): its access token and the claims it
    /// releases carry only those scopes, and an ID token comes only with `openid`; the grant and
    /// its new refresh token keep the scope the citizen approved. A scope the grant does not
    /// hold is `invalid_scope`; an empty one counts as omitted (RFC 6749 section 3.1).
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
        dpop_jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        const INVALID: TokenError =
            TokenError::InvalidGrant("the refresh token is invalid, expired or revoked");
        if !client.grant_types.contains(&GrantType::RefreshToken) {
            return Err(TokenError::UnauthorizedClient);
        }
        let old_hash = hash_secret(refresh_token);
        let now = self.ctx.now();
        let Some(grant) =
            self.store.find_grant_by_refresh_hash(&old_hash).await.map_err(Internal::from)?
        else {
            self.revoke_on_reuse(&old_hash, now).await?;
            return Err(INVALID);
        };
        let absolute_end = grant.created_at + self.ctx.settings.refresh_token_max_age;
        if grant.client_id != client.id
            || grant.revoked_at.is_some()
            || now >= grant.refresh_expires_at
            || now >= absolute_end
        {
            return Err(INVALID);
        }
        // A grant bound to a DPoP key is refreshed only with a proof for that key (RFC 9449
        // section 5): a stolen refresh token is useless without it.
        if grant.dpop_jkt.is_some() && grant.dpop_jkt.as_deref() != dpop_jkt {
            return Err(TokenError::InvalidDpopProof("the refresh token is bound to another key"));
        }
        let scopes = match scope.filter(|s| !s.trim().is_empty()) {
            None => grant.scopes.clone(),
            Some(text) => {
                let asked = claims::parse_list(text);
                if asked.iter().any(|s| !grant.scopes.contains(s)) {
                    return Err(TokenError::InvalidScope(
                        "the requested scope is not within the scope the citizen approved",
                    ));
                }
                asked
            }
        };
        // The grant holds all the ID token needs (acr, amr, auth_time): no account read.
        // FAPI 2.0 (Security Profile 5.3.2.1 clause 10) does not rotate: its refresh tokens are
        // bound to the client's DPoP key, and a client whose answer was lost must be able to
        // retry with the same token. Elsewhere each token is used once.
        let keep = self.ctx.settings.fapi2 && grant.dpop_jkt.is_some();
        let new_token = if keep { refresh_token.to_owned() } else { random_token(32) };
        let new_hash = hash_secret(&new_token);
        // Sliding: each use renews the idle lifetime, never past the absolute one.
        let new_expires_at = (now + self.ctx.settings.refresh_token_ttl).min(absolute_end);
        let release = self.release(&grant, ReleaseChannel::IdToken, vec!["sub".to_owned()]);
        let with_id_token = scopes.iter().any(|s| s == "openid");
        // The new token, the retirement of the old one (unless it is kept) and the release,
        // together.
        let (grant_id, replaced) = (grant.id.clone(), old_hash.clone());
        let rotated = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx
                    .replace_refresh_token(&grant_id, &replaced, &new_hash, new_expires_at)
                    .await?
                {
                    return Ok(false);
                }
                if new_hash != replaced {
                    tx.retire_refresh_token(&replaced, &grant_id, now).await?;
                }
                tx.insert_release(&release).await?;
                Ok(true)
            })
        })
        .await
        .map_err(Internal::from)?;
        if !rotated {
            // Another request rotated this token first: it is now a retired one.
            self.revoke_on_reuse(&old_hash, now).await?;
            return Err(INVALID);
        }
        let extras = with_id_token.then(IdTokenExtras::default);
        self.tokens(client, &grant, &scopes, new_token, extras, dpop_jkt)
    }

    async fn revoke_on_reuse(&self, refresh_hash: &str, now: i64) -> Result<(), TokenError> {
        if let Some(grant) = self
            .store
            .find_grant_by_retired_refresh_hash(refresh_hash)
            .await
            .map_err(Internal::from)?
            .filter(|g| g.revoked_at.is_none())
        {
            // The service's session for this citizen ends here: it hears so, by a notice
            // stored with the revocation.
            let client = self.store.find_client(&grant.client_id).await.map_err(Internal::from)?;
            let notice =
                client.and_then(|c| self.logout_notice(&c, &grant.account_id, Some(&grant.id)));
            let (grant_id, queued) = (grant.id.clone(), notice.clone());
            let revoked = transact(self.store.as_ref(), move |tx| {
                Box::pin(async move {
                    let revoked = tx.revoke_grant(&grant_id, now).await?;
                    // Only a revocation that happened here ends a session to tell of.
                    if let Some(notice) = queued.as_ref().filter(|_| revoked) {
                        tx.insert_message(notice).await?;
                    }
                    Ok(revoked)
                })
            })
            .await
            .map_err(Internal::from)?;
            tracing::warn!(grant_id = %grant.id, client_id = %grant.client_id, "a retired refresh token was used again; its grant is revoked");
            if revoked {
                self.logout_queued(notice.as_slice());
            }
        }
        Ok(())
    }

    /// The grant behind a token of ours: a current refresh token, or a valid access token
    /// (which has no grant when a client got it for itself).
    async fn grant_of(
        &self,
        token: &str,
    ) -> Result<Option<(Option<Grant>, TokenKind)>, TokenError> {
        if let Some(grant) = self
            .store
            .find_grant_by_refresh_hash(&hash_secret(token))
            .await
            .map_err(Internal::from)?
        {
            return Ok(Some((Some(grant), TokenKind::Refresh)));
        }
        let Some(claims) = self.verify_access_token(token) else { return Ok(None) };
        let claims = Box::new(claims);
        let Some(gid) = &claims.gid else { return Ok(Some((None, TokenKind::Access(claims)))) };
        let grant = self.store.find_grant(gid).await.map_err(Internal::from)?;
        Ok(grant.map(|g| (Some(g), TokenKind::Access(claims))))
    }

    /// Revokes the grant behind a token the client holds (RFC 7009): its refresh token and
    /// every access token issued with it. Unknown tokens, and other clients' tokens, change
    /// nothing and get the same answer, so revocation cannot be used to probe for tokens.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn revoke_token(&self, client: &Client, token: &str) -> Result<(), TokenError> {
        match self.grant_of(token).await? {
            Some((Some(grant), _))
                if grant.client_id == client.id && grant.revoked_at.is_none() =>
            {
                self.store.revoke_grant(&grant.id, self.ctx.now()).await.map_err(Internal::from)?;
                tracing::info!(grant_id = %grant.id, "grant revoked by its client");
            }
            // A client-credentials token has no grant: it is remembered as revoked until it
            // expires, and every check of an access token asks (`access_token_active`).
            Some((None, TokenKind::Access(claims))) if claims.client_id == client.id => {
                self.store
                    .revoke_access_token(&claims.jti, claims.exp)
                    .await
                    .map_err(Internal::from)?;
                tracing::info!(client_id = %client.id, "client-credentials access token revoked");
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether a verified access token is still good: its grant live, or, for a token with no
    /// grant, its client registered and the token not revoked (RFC 7009 section 2.1: a revoked
    /// token is invalid everywhere this provider checks it).
    async fn access_token_active(&self, claims: &AccessClaims) -> Result<bool, TokenError> {
        match &claims.gid {
            Some(gid) => Ok(self
                .store
                .find_grant(gid)
                .await
                .map_err(Internal::from)?
                .is_some_and(|g| g.revoked_at.is_none())),
            None => Ok(self.find_client(&claims.client_id).await?.is_some()
                && !self.store.access_token_revoked(&claims.jti).await.map_err(Internal::from)?),
        }
    }

    /// Token introspection for resource servers (RFC 7662). Only confidential clients may ask;
    /// a refresh token is shown only to the client it was issued to.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn introspect(&self, client: &Client, token: &str) -> Result<Value, TokenError> {
        if client.auth_methods.contains(&AuthMethod::None) {
            return Err(TokenError::InvalidClient);
        }
        let now = self.ctx.now();
        let inactive = json!({ "active": false });
        let Some((grant, kind)) = self.grant_of(token).await? else { return Ok(inactive) };
        // RFC 7662 section 4: a client sees its own tokens; only a resource server the operator
        // named sees others' access tokens.
        let owner = match (&grant, &kind) {
            (Some(g), _) => g.client_id.clone(),
            (None, TokenKind::Access(claims)) => claims.client_id.clone().into(),
            (None, TokenKind::Refresh) => return Ok(inactive),
        };
        let is_access = matches!(kind, TokenKind::Access(_));
        if owner != client.id && !(client.resource_server && is_access) {
            return Ok(inactive);
        }
        let Some(grant) = grant else {
            // A client-credentials token: active while its client exists and until revoked.
            let TokenKind::Access(claims) = kind else { return Ok(inactive) };
            if !self.access_token_active(&claims).await? {
                return Ok(inactive);
            }
            return Ok(Value::Object(access_introspection(&claims)));
        };
        if grant.revoked_at.is_some() {
            return Ok(inactive);
        }
        // A disabled (or deleted) client's tokens are not honoured while it is so.
        let Some(owner) = self.find_client(&grant.client_id).await? else { return Ok(inactive) };
        let sub = self.pairwise_subject(&grant.account_id, &owner);
        Ok(match kind {
            TokenKind::Access(claims) => {
                let mut answer = access_introspection(&claims);
                answer.insert("acr".into(), json!(grant.acr));
                answer.insert("auth_time".into(), json!(grant.auth_time));
                Value::Object(answer)
            }
            TokenKind::Refresh
                if grant.client_id == client.id && now < grant.refresh_expires_at =>
            {
                json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": claims::join(&grant.scopes),
                    "client_id": grant.client_id,
                    "sub": sub,
                    "iss": self.ctx.settings.issuer,
                    "exp": grant.refresh_expires_at,
                    "iat": grant.created_at,
                })
            }
            TokenKind::Refresh => inactive,
        })
    }

    /// The client an access token was issued to, if it is one of ours and unexpired (for the
    /// UserInfo endpoint's CORS answer; `userinfo` does the full checks).
    pub fn access_token_client(&self, token: &str) -> Option<String> {
        self.verify_access_token(token).map(|claims| claims.client_id)
    }

    /// An unexpired access token signed by one of our keys, for us.
    fn verify_access_token(&self, token: &str) -> Option<AccessClaims> {
        let kid = peek_kid(token)?;
        let key = self.keys.by_kid(&kid, self.ctx.now())?;
        let claims: AccessClaims = key.verify_typed(token, "at+jwt").ok()?;
        (claims.exp > self.ctx.now() && claims.iss == self.ctx.settings.issuer).then_some(claims)
    }

    fn release(&self, grant: &Grant, channel: ReleaseChannel, claims: Vec<String>) -> Release {
        Release {
            id: self.ctx.new_id().to_string(),
            account_id: grant.account_id.clone(),
            client_id: grant.client_id.clone(),
            grant_id: grant.id.clone(),
            claims,
            channel,
            released_at: self.ctx.now(),
        }
    }

    /// The token response for `grant`: an access token for `scopes` (the grant's, or fewer), the
    /// refresh token, and an ID token when `id_token` is given.
    fn tokens(
        &self,
        client: &Client,
        grant: &Grant,
        scopes: &[String],
        refresh_token: String,
        id_token: Option<IdTokenExtras<'_>>,
        dpop_jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let now = self.ctx.now();
        let issuer = &self.ctx.settings.issuer;
        let sub = self.pairwise_subject(&grant.account_id, client);
        let signer = self
            .keys
            .signer(Algorithm::ES256, self.ctx.now())
            .ok_or_else(|| TokenError::Internal(Internal::new("no ES256 signing key")))?;
        let scope = claims::join(scopes);
        let access = AccessClaims {
            iss: issuer.clone(),
            sub: sub.clone(),
            aud: endpoints::url(issuer, endpoints::USERINFO),
            client_id: grant.client_id.clone().into(),
            scope: scope.clone(),
            exp: now + self.ctx.settings.access_token_ttl,
            iat: now,
            jti: random_token(16),
            gid: Some(grant.id.clone()),
            cnf: dpop_jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        };
        let access_token = signer
            .sign("at+jwt", &access)
            .map_err(|e| Internal::caused("signing an access token", e))?;
        let id_token = match id_token {
            None => None,
            Some(extras) => Some(self.id_token(client, grant, &sub, extras)?),
        };
        Ok(TokenResponse {
            access_token,
            token_type: if dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
            expires_in: self.ctx.settings.access_token_ttl,
            // Only a client registered for the refresh_token grant gets one.
            refresh_token: client
                .grant_types
                .contains(&GrantType::RefreshToken)
                .then_some(refresh_token),
            id_token,
            authorization_details: FormRequest::stored(grant.authorization_details.as_deref())
                .map(|f| f.granted(&claims::released(scopes, &grant.claims_filter))),
            scope,
        })
    }

    /// An anonymous form filling's tokens (`oidc::forms`): the form's fields in an ID token
    /// under a one-time `sub`; an access token that opens nothing (no grant: UserInfo refuses
    /// it); no refresh token. No grant, consent or release names the citizen with the service:
    /// the code is redeemed, the login request forgets the account, and the citizen's own
    /// record is stored sealed to their account, all in one transaction.
    async fn anonymous_filling(
        &self,
        client: &Client,
        request: &crate::oidc::model::LoginRequest,
        account: &crate::identity::model::Account,
        form: FormRequest,
        code_hash: String,
        dpop_jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let now = self.ctx.now();
        let names: Vec<&str> = claims::released(&request.approved_scopes, &request.claims_filter)
            .into_iter()
            .filter(|n| form.fields.iter().any(|f| f.name == *n))
            .collect();
        let values = self.eme.claim_values(account, &names).await?;
        let record = FillingRecord {
            client_name: client.name.clone(),
            form_name: form.form_name.clone(),
            form_number: form.form_number.clone(),
            claims: values.keys().cloned().collect(),
            filled_at: now,
        };
        let plaintext = serde_json::to_vec(&record)
            .map_err(|e| Internal::caused("writing a filling record", e))?;
        let sealed =
            self.ctx.data_key(&account.id).await?.seal(&plaintext, account.id.as_bytes())?;
        // A random id: a time-ordered one would sort it beside the citizen's other rows.
        let filling = AnonymousFilling {
            id: format!("af_{}", random_token(16)),
            account_lookup: anonymous_lookup(&self.ctx, &account.id),
            sealed,
            created_at: now,
        };
        // Every redemption of an anonymous code names this placeholder, which no grant has.
        let placeholder = crate::kernel::GrantId::from("anonymous");
        let redemption = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                let redemption = tx.redeem_code(&code_hash, &placeholder).await?;
                if redemption == Redemption::Redeemed {
                    tx.forget_login_account(&code_hash).await?;
                    tx.insert_anonymous_filling(&filling).await?;
                }
                Ok(redemption)
            })
        })
        .await
        .map_err(Internal::from)?;
        match redemption {
            Redemption::Redeemed => {}
            Redemption::AlreadyRedeemed { .. } => {
                return Err(TokenError::InvalidGrant("the code has already been used"));
            }
            Redemption::Unknown => return Err(TokenError::InvalidGrant("the code is invalid")),
        }
        let issuer = &self.ctx.settings.issuer;
        let subject = format!("anon_{}", random_token(16));
        let signer = self
            .keys
            .signer(Algorithm::ES256, now)
            .ok_or_else(|| TokenError::Internal(Internal::new("no ES256 signing key")))?;
        let access = AccessClaims {
            iss: issuer.clone(),
            sub: subject.clone(),
            aud: endpoints::url(issuer, endpoints::USERINFO),
            client_id: client.id.clone().into(),
            scope: "openid".into(),
            exp: now + self.ctx.settings.access_token_ttl,
            iat: now,
            jti: random_token(16),
            gid: None,
            cnf: dpop_jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        };
        let access_token = signer
            .sign("at+jwt", &access)
            .map_err(|e| Internal::caused("signing an access token", e))?;
        // The ID token's session is as one-time as its subject.
        let session = Grant {
            id: crate::kernel::GrantId::from(format!("anon_{}", random_token(16))),
            account_id: account.id.clone(),
            client_id: client.id.clone(),
            login_request_id: request.id.clone(),
            scopes: vec!["openid".into()],
            claims_filter: Vec::new(),
            verified_claims: Vec::new(),
            authorization_details: None,
            auth_time: request.auth_time.unwrap_or(now),
            acr: String::new(),
            amr: Vec::new(),
            refresh_hash: String::new(),
            refresh_expires_at: now,
            created_at: now,
            revoked_at: None,
            dpop_jkt: None,
            browser_hash: None,
        };
        let extras = IdTokenExtras { nonce: request.nonce.as_deref(), claims: values };
        let id_token = self.id_token(client, &session, &subject, extras)?;
        tracing::info!("anonymous form filled");
        Ok(TokenResponse {
            access_token,
            token_type: if dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
            expires_in: self.ctx.settings.access_token_ttl,
            refresh_token: None,
            id_token: Some(id_token),
            scope: "openid".into(),
            authorization_details: Some(form.granted(&names)),
        })
    }

    /// The ID token of a grant (OIDC Core section 2), in the client's algorithm.
    fn id_token(
        &self,
        client: &Client,
        grant: &Grant,
        sub: &str,
        extras: IdTokenExtras<'_>,
    ) -> Result<String, TokenError> {
        let now = self.ctx.now();
        let signer = self.keys.signer(client.id_token_alg, now).ok_or_else(|| {
            TokenError::Internal(Internal::new(format!(
                "no {} signing key",
                client.id_token_alg.as_str()
            )))
        })?;
        let claims = IdTokenClaims {
            iss: &self.ctx.settings.issuer,
            sub,
            aud: &grant.client_id,
            exp: now + self.ctx.settings.id_token_ttl,
            iat: now,
            auth_time: grant.auth_time,
            acr: &grant.acr,
            amr: &grant.amr,
            sid: &grant.id,
            nonce: extras.nonce,
            released: extras.claims,
        };
        signer.sign("JWT", &claims).map_err(|e| Internal::caused("signing an ID token", e).into())
    }

    /// The client-credentials grant (RFC 6749 section 4.4): an access token for the client
    /// itself, for machine-to-machine APIs. Nothing is stored: the token is a signed JWT that
    /// resource servers check by signature or introspection, and it expires in minutes.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        dpop_jkt: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        if !client.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(TokenError::UnauthorizedClient);
        }
        let granted = match scope {
            None => client.scopes.clone(),
            Some(text) => {
                let asked = claims::parse_list(text);
                if asked.iter().any(|s| !client.scopes.contains(s)) {
                    return Err(TokenError::InvalidScope(
                        "a requested scope is not registered for this client",
                    ));
                }
                asked
            }
        };
        let now = self.ctx.now();
        let issuer = &self.ctx.settings.issuer;
        let scope = claims::join(&granted);
        let claims = AccessClaims {
            iss: issuer.clone(),
            sub: client.id.clone().into(),
            aud: issuer.clone(),
            client_id: client.id.clone().into(),
            scope: scope.clone(),
            exp: now + self.ctx.settings.access_token_ttl,
            iat: now,
            jti: random_token(16),
            gid: None,
            cnf: dpop_jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        };
        let signer = self
            .keys
            .signer(Algorithm::ES256, self.ctx.now())
            .ok_or_else(|| TokenError::Internal(Internal::new("no ES256 signing key")))?;
        let access_token = signer
            .sign("at+jwt", &claims)
            .map_err(|e| Internal::caused("signing an access token", e))?;
        Ok(TokenResponse {
            access_token,
            token_type: if dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
            expires_in: self.ctx.settings.access_token_ttl,
            refresh_token: None,
            id_token: None,
            scope,
            authorization_details: None,
        })
    }

    /// Verifies an access token and returns the claims its grant allows, recording the release.
    #[tracing::instrument(skip_all)]
    pub async fn userinfo(
        &self,
        access_token: &str,
        dpop: Option<&DpopRequest<'_>>,
    ) -> Result<Map<String, Value>, UserInfoError> {
        let claims = self.verify_access_token(access_token).ok_or(UserInfoError::InvalidToken)?;
        // An access token for another resource (a later resource-server audience) is not ours.
        if claims.aud != endpoints::url(&self.ctx.settings.issuer, endpoints::USERINFO) {
            return Err(UserInfoError::InvalidToken);
        }
        // RFC 9449 section 7: a bound token only with the DPoP scheme and a proof of its key for
        // this request and this token; an unbound one only as a bearer token.
        match (&claims.cnf, dpop) {
            (None, None) => {}
            (Some(cnf), Some(request)) => {
                let jkt = self
                    .check_dpop(request, Some(access_token), false)
                    .await
                    .map_err(|_| UserInfoError::InvalidDpopProof)?;
                if jkt.as_deref() != Some(cnf.jkt.as_str()) {
                    return Err(UserInfoError::InvalidDpopProof);
                }
            }
            _ => return Err(UserInfoError::InvalidToken),
        }
        let grant = self
            .store
            .find_grant(claims.gid.as_ref().ok_or(UserInfoError::InvalidToken)?)
            .await
            .map_err(Internal::from)?
            .filter(|g| g.revoked_at.is_none())
            .ok_or(UserInfoError::InvalidToken)?;
        // A disabled (or deleted) client's tokens are not honoured while it is so.
        if self.find_client(&grant.client_id).await?.is_none() {
            return Err(UserInfoError::InvalidToken);
        }
        let account = self.identity.account(&grant.account_id).await.map_err(Internal::from)?;
        // The token's scope: the grant's, or fewer if a refresh narrowed it (RFC 6749 section 6).
        let token_scopes: Vec<String> = claims::parse_list(&claims.scope)
            .into_iter()
            .filter(|s| grant.scopes.contains(s))
            .collect();
        let names = claims::released(&token_scopes, &grant.claims_filter);
        let mut out = self
            .released_claims(&account, &names, &grant.verified_claims, "userinfo", None)
            .await?;
        // The token's own subject: computed for the client's sector when it was issued.
        out.insert("sub".into(), json!(claims.sub));
        let release = self.release(&grant, ReleaseChannel::UserInfo, release_names(&out));
        self.store.insert_release(&release).await.map_err(Internal::from)?;
        Ok(out)
    }

    /// The claims released through `target` (`userinfo` or `id_token`) of the approved `names`:
    /// plain claims (only those in `plain_only` if given, the ID token's asked-for ones), but
    /// not those asked for only as verified; and those the claims request asked for as
    /// `verified_claims` for this target, in that element (`assurance`), resting on the
    /// account's identity checks.
    async fn released_claims(
        &self,
        account: &crate::identity::model::Account,
        names: &[&'static str],
        verified: &[String],
        target: &str,
        plain_only: Option<&[String]>,
    ) -> Result<Map<String, Value>, Internal> {
        let only: Vec<&str> = verified.iter().filter_map(|v| v.strip_prefix("only:")).collect();
        let asked: Vec<&str> = verified
            .iter()
            .filter_map(|v| v.split_once(':').filter(|(t, _)| *t == target).map(|(_, n)| n))
            .collect();
        // Documents go only to UserInfo: an ID token is no place for megabytes.
        let plain: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !only.contains(n))
            .filter(|n| target != "id_token" || *n != crate::eme::documents::FIELD)
            .filter(|n| plain_only.is_none_or(|p| p.iter().any(|c| c == n)))
            .collect();
        let in_verified: Vec<&str> = names.iter().copied().filter(|n| asked.contains(n)).collect();
        let mut wanted = plain.clone();
        wanted.extend(in_verified.iter().filter(|n| !plain.contains(n)));
        let values = self.eme.claim_values(account, &wanted).await?;
        let mut out = Map::new();
        let mut verified_values = Map::new();
        for (name, value) in values {
            if in_verified.contains(&name.as_str()) {
                verified_values.insert(name.clone(), value.clone());
            }
            if plain.contains(&name.as_str()) {
                out.insert(name, value);
            }
        }
        if !verified_values.is_empty() {
            let checks =
                self.identity.evidence_records(&account.id).await.map_err(Internal::from)?;
            let element =
                assurance::verified_claims(verified_values, &checks, account.tier.as_str());
            out.insert("verified_claims".into(), element);
        }
        Ok(out)
    }

    /// OpenID Provider metadata (OpenID Connect Discovery 1.0, section 3).
    pub fn discovery(&self) -> Value {
        let issuer = &self.ctx.settings.issuer;
        let mut metadata = json!({
            "issuer": issuer,
            "authorization_endpoint": endpoints::url(issuer, endpoints::AUTHORIZE),
            "token_endpoint": endpoints::url(issuer, endpoints::TOKEN),
            "revocation_endpoint": endpoints::url(issuer, endpoints::REVOKE),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "introspection_endpoint": endpoints::url(issuer, endpoints::INTROSPECT),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "userinfo_endpoint": endpoints::url(issuer, endpoints::USERINFO),
            "jwks_uri": endpoints::url(issuer, endpoints::JWKS),
            "scopes_supported": claims::supported(),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
            "token_endpoint_auth_signing_alg_values_supported": civpass_crypto::external::ACCEPTED,
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": claims::all_claims(),
            "acr_values_supported": ["basic", "plus"],
            "claims_locales_supported": ["en", "zh-Hant-HK"],
            "ui_locales_supported": ["en", "zh-HK", "zh-CN"],
            "authorization_response_iss_parameter_supported": true,
            "dpop_signing_alg_values_supported": civpass_crypto::external::ACCEPTED,
            "pushed_authorization_request_endpoint": endpoints::url(issuer, endpoints::PAR),
            "registration_endpoint": endpoints::url(issuer, endpoints::REGISTER),
            "require_pushed_authorization_requests": self.ctx.settings.require_par,
            "token_endpoint_auth_methods_supported": if self.ctx.settings.fapi2 {
                json!(["private_key_jwt"])
            } else {
                json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
            },
            "request_parameter_supported": true,
            "request_object_signing_alg_values_supported": civpass_crypto::external::ACCEPTED,
            // Only the request_uri values our PAR endpoint hands out; we fetch no URLs.
            "request_uri_parameter_supported": false,
            "claims_parameter_supported": true,
            "frontchannel_logout_supported": false,
            "end_session_endpoint": endpoints::url(issuer, endpoints::LOGOUT),
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        });
        if let Some(members) = metadata.as_object_mut() {
            assurance::discovery(members);
            // RFC 9396 section 10.
            members.insert(
                "authorization_details_types_supported".into(),
                json!([crate::oidc::forms::FORM_FILLING]),
            );
        }
        metadata
    }
}
