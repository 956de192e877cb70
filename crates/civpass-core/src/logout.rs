//! Logout: RP-initiated (OpenID Connect RP-Initiated Logout 1.0) ends the login session an ID
//! token names; back-channel (OpenID Connect Back-Channel Logout 1.0) tells a service that a
//! citizen's session with it ended, e.g. because the citizen unlinked it in the app.

use civpass_crypto::secret::random_token;
use serde_json::json;

use crate::model::Client;
use crate::services::{Internal, Services};

/// The event a logout token carries (Back-Channel Logout section 2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Delivers logout tokens to services' `backchannel_logout_uri` (an outbound HTTP port). It
/// must not keep the caller waiting on a slow service: delivery happens in the background.
pub trait LogoutNotifier: Send + Sync {
    fn notify(&self, uri: &str, logout_token: String);
}

/// For deployments without outbound HTTP: logs that a notification was not sent.
pub struct NoLogoutNotifier;

impl LogoutNotifier for NoLogoutNotifier {
    fn notify(&self, _uri: &str, _logout_token: String) {
        tracing::warn!("back-channel logout is not configured; a service was not told");
    }
}

/// The parameters of `/logout`.
#[derive(Debug, Default, Clone)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// Send the browser to the client's registered post-logout URI (with `state`).
    Redirect(String),
    /// Show that the citizen has logged out.
    LoggedOut,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("{0}")]
    Internal(String),
}

impl From<Internal> for LogoutError {
    fn from(e: Internal) -> LogoutError {
        LogoutError::Internal(e.0)
    }
}

impl Services {
    /// RP-initiated logout: ends the login session (grant) the `id_token_hint` names, and sends
    /// the browser back only to a post-logout URI the client registered.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, req: &LogoutRequest) -> Result<LogoutOutcome, LogoutError> {
        let bad = LogoutError::InvalidRequest;
        let hinted = match &req.id_token_hint {
            None => None,
            Some(hint) => Some(
                self.verified_id_token(hint)
                    .ok_or(bad("id_token_hint is not an ID token this provider issued"))?,
            ),
        };
        let hinted_client = hinted.as_ref().and_then(|c| c.get("aud")?.as_str().map(str::to_owned));
        if let (Some(a), Some(b)) = (&hinted_client, &req.client_id)
            && a != b
        {
            return Err(bad("client_id is not the ID token's audience"));
        }
        let client_id = hinted_client.or_else(|| req.client_id.clone());
        let redirect = match &req.post_logout_redirect_uri {
            None => None,
            Some(uri) => {
                let client_id = client_id
                    .as_deref()
                    .ok_or(bad("post_logout_redirect_uri needs id_token_hint or client_id"))?;
                let client = self
                    .store
                    .find_client(client_id)
                    .await
                    .map_err(Internal::from)?
                    .ok_or(bad("unknown client"))?;
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return Err(bad("post_logout_redirect_uri is not registered for this client"));
                }
                let mut pairs = Vec::new();
                if let Some(state) = &req.state {
                    pairs.push(("state", state.as_str()));
                }
                Some(crate::login::with_query(uri, &pairs))
            }
        };
        if let Some(claims) = &hinted
            && let Some(sid) = claims.get("sid").and_then(|s| s.as_str())
            && let Some(grant) = self.store.find_grant(sid).await.map_err(Internal::from)?
            && Some(grant.client_id.as_str()) == client_id.as_deref()
            && grant.revoked_at.is_none()
        {
            self.store.revoke_grant(&grant.id, self.clock.now()).await.map_err(Internal::from)?;
            tracing::info!(grant_id = %grant.id, "login session ended by RP-initiated logout");
        }
        Ok(redirect.map(LogoutOutcome::Redirect).unwrap_or(LogoutOutcome::LoggedOut))
    }

    /// An ID token we issued (any client, expired or not): its claims.
    pub(crate) fn verified_id_token(&self, token: &str) -> Option<serde_json::Value> {
        let kid = civpass_crypto::jws::peek_kid(token)?;
        let claims: serde_json::Value =
            self.keys.by_kid(&kid, self.clock.now())?.verify_typed(token, "JWT").ok()?;
        (claims.get("iss")?.as_str()? == self.settings.issuer).then_some(claims)
    }

    /// Tells the client, if it asked to hear, that the citizen with subject `sub` is logged out
    /// of it: a logout token (signed like its ID tokens) to its `backchannel_logout_uri`.
    pub(crate) fn send_backchannel_logout(
        &self,
        client: &Client,
        sub: &str,
    ) -> Result<(), Internal> {
        let Some(uri) = &client.backchannel_logout_uri else { return Ok(()) };
        let now = self.clock.now();
        let claims = json!({
            "iss": self.settings.issuer,
            "aud": client.id,
            "iat": now,
            "exp": now + 120,
            "jti": random_token(16),
            "sub": sub,
            "events": { BACKCHANNEL_EVENT: {} },
        });
        let signer = self
            .keys
            .signer(client.id_token_alg, now)
            .ok_or_else(|| Internal(format!("no {} signing key", client.id_token_alg.as_str())))?;
        let token = signer.sign("logout+jwt", &claims).map_err(|e| Internal(e.to_string()))?;
        self.logout_notifier.notify(uri, token);
        tracing::info!(client_id = %client.id, "back-channel logout sent");
        Ok(())
    }
}
