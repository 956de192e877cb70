//! Logout: RP-initiated (OpenID Connect RP-Initiated Logout 1.0) ends the login session an ID
//! token names; back-channel (OpenID Connect Back-Channel Logout 1.0) tells a service that a
//! citizen's session with it ended, e.g. because the citizen unlinked it in the app.

use async_trait::async_trait;
use civpass_crypto::secret::{ct_eq, hash_secret, random_token};

use crate::kernel::error::Chain;
use crate::kernel::outbox::{self, Attempt, OutboxMessage};
use crate::kernel::{AccountId, GrantId, Internal};
use crate::oidc::OidcService;
use crate::oidc::model::{Client, LogoutNotice};

/// What an ID token we issued, presented back as a hint (`id_token_hint`, OIDC Core section
/// 3.1.2.1; RP-Initiated Logout 1.0 section 2), says that matters: who issued it, to whom, about
/// whom, and the login session.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct IdTokenHint {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    #[serde(default)]
    pub sid: Option<String>,
}

/// A JWT's `aud`: one audience, or several (RFC 7519 section 4.1.3).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Several(Vec<String>),
}

impl Audience {
    pub fn contains(&self, client_id: &str) -> bool {
        match self {
            Audience::One(aud) => aud == client_id,
            Audience::Several(list) => list.iter().any(|a| a == client_id),
        }
    }

    /// The audience a single-audience token names.
    pub fn single(&self) -> Option<&str> {
        match self {
            Audience::One(aud) => Some(aud),
            Audience::Several(list) if list.len() == 1 => Some(&list[0]),
            Audience::Several(_) => None,
        }
    }
}

/// The event a logout token carries (Back-Channel Logout section 2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Claims of a logout token (Back-Channel Logout 1.0 section 2.4): it names the citizen as the
/// service knows them and, when one session ended, that session; it carries no `nonce`.
#[derive(Debug, serde::Serialize)]
pub struct LogoutTokenClaims<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    pub events: LogoutEvents,
}

/// The `events` claim: the back-channel logout event, with an empty object.
#[derive(Debug, serde::Serialize)]
pub struct LogoutEvents {
    #[serde(rename = "http://schemas.openid.net/event/backchannel-logout")]
    pub backchannel_logout: Empty,
}

/// `{}`.
#[derive(Debug, serde::Serialize)]
pub struct Empty {}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    pub cause: String,
    /// The service refused the token itself (a 4xx other than 408 or 429): trying again
    /// would get the same answer.
    pub permanent: bool,
}

/// Delivers logout tokens to services' `backchannel_logout_uri` (an outbound HTTP port).
#[async_trait]
pub trait LogoutNotifier: Send + Sync {
    /// Posts one logout token.
    async fn deliver(&self, uri: &str, logout_token: &str) -> Result<(), DeliveryError>;
    /// Pushes one Security Event Token (RFC 8935 section 2).
    async fn push_event(&self, _uri: &str, _set: &str) -> Result<(), DeliveryError> {
        Err(DeliveryError {
            cause: "security event push is not configured".into(),
            permanent: false,
        })
    }
    /// A notice was queued: the delivery loop should run now rather than at its next round.
    fn wake(&self) {}
    /// Waits until woken or until the next round is due.
    async fn idle(&self);
}

/// For deployments without outbound HTTP: notices stay queued, and say so when tried.
pub struct NoLogoutNotifier;

#[async_trait]
impl LogoutNotifier for NoLogoutNotifier {
    async fn deliver(&self, _uri: &str, _logout_token: &str) -> Result<(), DeliveryError> {
        Err(DeliveryError {
            cause: "back-channel logout is not configured".into(),
            permanent: false,
        })
    }

    /// Nothing can be delivered: after its first round the loop waits for ever, and notices
    /// stay queued for a deployment with a notifier.
    async fn idle(&self) {
        std::future::pending::<()>().await;
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

/// What a logout request would do, before the citizen confirms it.
#[derive(Debug, PartialEq, Eq)]
pub struct LogoutPlan {
    /// The service asking, when known (for the confirmation page).
    pub client_name: Option<String>,
    /// Where the browser goes afterwards (a registered post-logout URI, with `state`).
    pub redirect: Option<String>,
    /// A live login session is named by the `id_token_hint`: ending it needs the citizen's
    /// confirmation. Without one there is nothing to end and nothing to confirm.
    pub ends_session: bool,
}

impl LogoutPlan {
    pub fn outcome(&self) -> LogoutOutcome {
        match &self.redirect {
            Some(to) => LogoutOutcome::Redirect(to.clone()),
            None => LogoutOutcome::LoggedOut,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// A checked logout request: the plan, and the session it would end.
struct CheckedLogout {
    plan: LogoutPlan,
    grant: Option<crate::oidc::model::Grant>,
}

impl OidcService {
    /// RP-initiated logout, step one (RP-Initiated Logout 1.0 section 2): checks the request and
    /// says what it would do. Expired hints are accepted, as section 4 asks. Nothing changes
    /// here: a GET (or a form posted from the service's site) only shows the citizen a
    /// confirmation, so a leaked ID token in a link cannot end anyone's session.
    #[tracing::instrument(skip_all)]
    pub async fn plan_logout(&self, req: &LogoutRequest) -> Result<LogoutPlan, LogoutError> {
        Ok(self.check_logout(req).await?.plan)
    }

    /// Step two, on the confirmation page's own (CSRF-protected) POST: ends the session the
    /// hint names, if the browser confirming is the one its login happened in (another browser,
    /// however it got the hint, ends nothing), and says where the browser goes.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_logout(
        &self,
        req: &LogoutRequest,
        browser_id: &str,
    ) -> Result<LogoutOutcome, LogoutError> {
        let checked = self.check_logout(req).await?;
        if let Some(grant) = checked.grant {
            // A grant from before browsers were recorded cannot be tied to one: it is not
            // ended this way (its refresh token still dies with revocation or an unlink).
            let same_browser = grant
                .browser_hash
                .as_deref()
                .is_some_and(|stored| ct_eq(stored, &hash_secret(browser_id)));
            if same_browser {
                self.store.revoke_grant(&grant.id, self.ctx.now()).await.map_err(Internal::from)?;
                tracing::info!(grant_id = %grant.id, "login session ended by RP-initiated logout");
            } else {
                tracing::info!(grant_id = %grant.id, "logout confirmed from another browser: session kept");
            }
        }
        Ok(checked.plan.outcome())
    }

    /// The token the confirmation form carries: a keyed hash of the browser's binding cookie,
    /// which a page on another site can neither read nor make (RFC 6749 section 10.12's
    /// binding of a request to the user agent).
    pub fn logout_csrf_token(&self, browser_id: &str) -> String {
        self.ctx.secrets.lookup.hash(&[b"logout-confirmation", browser_id.as_bytes()])
    }

    /// Whether `token` is this browser's confirmation token (constant time).
    pub fn logout_csrf_matches(&self, browser_id: &str, token: &str) -> bool {
        ct_eq(&self.logout_csrf_token(browser_id), token)
    }

    async fn check_logout(&self, req: &LogoutRequest) -> Result<CheckedLogout, LogoutError> {
        let bad = LogoutError::InvalidRequest;
        let hinted = match &req.id_token_hint {
            None => None,
            Some(hint) => Some(
                self.verified_id_token(hint)
                    .ok_or(bad("id_token_hint is not an ID token this provider issued"))?,
            ),
        };
        let hinted_client = hinted.as_ref().and_then(|c| c.aud.single().map(str::to_owned));
        if let (Some(a), Some(b)) = (&hinted_client, &req.client_id)
            && a != b
        {
            return Err(bad("client_id is not the ID token's audience"));
        }
        let client_id = hinted_client.or_else(|| req.client_id.clone());
        let client = match client_id.as_deref() {
            Some(id) => Some(
                self.find_client(id)
                    .await
                    .map_err(LogoutError::from)?
                    .ok_or(bad("unknown client"))?,
            ),
            None => None,
        };
        let redirect = match &req.post_logout_redirect_uri {
            None => None,
            Some(uri) => {
                let client = client
                    .as_ref()
                    .ok_or(bad("post_logout_redirect_uri needs id_token_hint or client_id"))?;
                if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                    return Err(bad("post_logout_redirect_uri is not registered for this client"));
                }
                let mut pairs = Vec::new();
                if let Some(state) = &req.state {
                    pairs.push(("state", state.as_str()));
                }
                Some(crate::oidc::login::with_query(uri, &pairs))
            }
        };
        let mut grant = None;
        if let Some(claims) = &hinted
            && let Some(sid) = claims.sid.as_deref()
        {
            grant = self
                .store
                .find_grant(&GrantId::from(sid))
                .await
                .map_err(Internal::from)?
                .filter(|g| Some(g.client_id.as_str()) == client_id.as_deref())
                .filter(|g| g.revoked_at.is_none());
        }
        let plan = LogoutPlan {
            client_name: client.map(|c| c.name),
            redirect,
            ends_session: grant.is_some(),
        };
        Ok(CheckedLogout { plan, grant })
    }

    /// An ID token we issued (any client, expired or not): its claims.
    pub(crate) fn verified_id_token(&self, token: &str) -> Option<IdTokenHint> {
        let kid = civpass_crypto::jws::peek_kid(token)?;
        let claims: IdTokenHint =
            self.keys.by_kid(&kid, self.ctx.now())?.verify_typed(token, "JWT").ok()?;
        (claims.iss == self.ctx.settings.issuer).then_some(claims)
    }

    /// The back-channel logout `client` should get when the citizen `account_id`'s session with
    /// it ends, if it asked for them, as an outbox message. The caller stores it with the change
    /// that ends the session (one transaction), then calls `logout_queued`.
    pub(crate) fn logout_notice(
        &self,
        client: &Client,
        account_id: &AccountId,
        session_id: Option<&GrantId>,
    ) -> Option<OutboxMessage> {
        client.backchannel_logout_uri.as_ref()?;
        let notice = LogoutNotice {
            client_id: client.id.clone(),
            subject: self.pairwise_subject(account_id, client),
            session_id: session_id.map(GrantId::to_string),
        };
        OutboxMessage::new(self.ctx.new_id().to_string(), &notice, self.ctx.now()).ok()
    }

    /// Wakes the delivery loop for notices just stored; the caller does not wait on the service.
    pub(crate) fn logout_queued(&self, queued: &[OutboxMessage]) {
        if !queued.is_empty() {
            self.logout_notifier.wake();
            tracing::info!(notices = queued.len(), "back-channel logout queued");
        }
    }

    /// Delivers the logout notices that are due; returns how many were tried. Run by every
    /// node in a loop (`run_logout_outbox`); safe to call from anywhere.
    pub async fn deliver_logout_notices(&self) -> Result<usize, Internal> {
        let store = self.store.as_ref();
        Ok(outbox::deliver_due(store, self.ctx.clock.as_ref(), |n| self.deliver_logout(n)).await?)
    }

    /// One attempt at one notice.
    async fn deliver_logout(&self, notice: LogoutNotice) -> Attempt {
        let client = match self.store.find_client(&notice.client_id).await {
            Ok(client) => client,
            Err(e) => return Attempt::Failed(Chain(&e).to_string()),
        };
        let Some((client, uri)) =
            client.and_then(|c| c.backchannel_logout_uri.clone().map(|uri| (c, uri)))
        else {
            return Attempt::Refused("the service is gone or no longer listens".into());
        };
        let token = match self.logout_token(&client, &notice) {
            Ok(token) => token,
            Err(e) => return Attempt::Failed(Chain(&e).to_string()),
        };
        match self.logout_notifier.deliver(&uri, &token).await {
            Ok(()) => {
                tracing::info!(client_id = %client.id, "back-channel logout delivered");
                Attempt::Delivered
            }
            Err(e) if e.permanent => Attempt::Refused(e.cause),
            Err(e) => Attempt::Failed(e.cause),
        }
    }

    /// Delivers logout notices for as long as the process runs, a round whenever one is queued
    /// here and at the notifier's pace otherwise (for notices queued by other nodes and retries).
    /// Security events (`oidc::events`) go through the same loop: both are calls to services.
    pub async fn run_logout_outbox(self) {
        loop {
            let logouts = self.deliver_logout_notices().await;
            let events = self.deliver_security_events().await;
            for (what, result) in [("back-channel logouts", &logouts), ("security events", &events)]
            {
                if let Err(e) = result {
                    tracing::warn!(cause = %Chain(e), "delivering {what} failed");
                }
            }
            // A full batch may mean more are due.
            let full = |r: &Result<usize, Internal>| {
                r.as_ref().is_ok_and(|n| *n == outbox::BATCH as usize)
            };
            if full(&logouts) || full(&events) {
                continue;
            }
            self.logout_notifier.idle().await;
        }
    }

    /// The logout token for a notice (Back-Channel Logout section 2.4): its `sub`, and the `sid`
    /// of the ID tokens of the session that ended if there was one; signed like the client's ID
    /// tokens, and fresh for each attempt, as it lives two minutes.
    fn logout_token(&self, client: &Client, notice: &LogoutNotice) -> Result<String, Internal> {
        let now = self.ctx.now();
        let claims = LogoutTokenClaims {
            iss: &self.ctx.settings.issuer,
            aud: &client.id,
            iat: now,
            exp: now + 120,
            jti: random_token(16),
            sub: &notice.subject,
            sid: notice.session_id.as_deref(),
            events: LogoutEvents { backchannel_logout: Empty {} },
        };
        let signer = self.keys.signer(client.id_token_alg, now).ok_or_else(|| {
            Internal::new(format!("no {} signing key", client.id_token_alg.as_str()))
        })?;
        signer
            .sign("logout+jwt", &claims)
            .map_err(|e| Internal::caused("signing a logout token", e))
    }
}

/// The back-channel logouts owed when the sessions `ended` (grant ids) end at once, as when a
/// citizen unlinks a service: one per session, each naming it as its `sid` (its id suffixed
/// with the session's), so the service can end exactly those (Back-Channel Logout 1.0 section
/// 2.4); with none live, `template` itself, for the citizen as a whole.
pub(crate) fn per_session(template: &OutboxMessage, ended: &[GrantId]) -> Vec<OutboxMessage> {
    let Some(notice) = template.payload::<LogoutNotice>().filter(|_| !ended.is_empty()) else {
        return vec![template.clone()];
    };
    ended
        .iter()
        .filter_map(|session| {
            let notice = LogoutNotice { session_id: Some(session.to_string()), ..notice.clone() };
            let id = format!("{}.{session}", template.id);
            OutboxMessage::new(id, &notice, template.created_at).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ended_session_is_told_of_and_the_citizen_when_none_was_live() {
        let notice =
            LogoutNotice { client_id: "c1".into(), subject: "sub".into(), session_id: None };
        let template = OutboxMessage::new("n1".into(), &notice, 5).unwrap();
        assert_eq!(per_session(&template, &[]), std::slice::from_ref(&template));
        let notices = per_session(&template, &["g1".into(), "g2".into()]);
        let named: Vec<(&str, Option<String>)> = notices
            .iter()
            .map(|n| (n.id.as_str(), n.payload::<LogoutNotice>().unwrap().session_id))
            .collect();
        assert_eq!(named, [("n1.g1", Some("g1".into())), ("n1.g2", Some("g2".into()))]);
        assert!(notices.iter().all(|n| n.payload::<LogoutNotice>().unwrap().subject == "sub"));
        assert!(notices.iter().all(|n| n.kind == "backchannel_logout" && n.created_at == 5));
    }
}
