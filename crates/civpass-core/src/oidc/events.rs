//! Security events to services: Security Event Tokens (RFC 8417) pushed to a service's
//! `security_events_push_uri` (RFC 8935) through the outbox, so that a service hears at once
//! that a citizen withdrew (or let expire) the consent it relied on, and that the sessions it
//! held ended (CAEP 1.0 `session-revoked`).
//!
//! Subjects are RFC 9493 subject identifiers, as the Shared Signals Framework 1.0 asks: the
//! citizen as `iss_sub` with the service's pairwise `sub`, and a session as `complex` with the
//! grant's id (the `sid` of its ID tokens). civpass pushes to a URL each service registers; it
//! offers no Shared Signals stream configuration endpoint (yet): streams are not negotiated.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use civpass_crypto::secret::random_token;

use crate::consent::model::Consent;
use crate::kernel::error::Chain;
use crate::kernel::outbox::{self, Attempt, OutboxKind, OutboxMessage};
use crate::kernel::{AccountId, GrantId, Internal};
use crate::oidc::OidcService;
use crate::oidc::model::Client;

/// civpass's event: a standing consent ended, by the citizen's withdrawal or its expiry.
/// Its payload: `event_timestamp`, `reason` (`withdrawn` or `expired`), `scopes`, `claims`,
/// `purpose` (if the service gave one). Documented in docs/EME.md.
pub const CONSENT_ENDED: &str = "https://civpass.dev/secevent/consent-ended";
/// CAEP 1.0 section 3.1.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// One security event waiting for delivery (outbox kind `security_event`). No personal data:
/// the subject is the service's pairwise identifier, the payload names scopes and claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEventNotice {
    pub client_id: String,
    pub subject: String,
    /// For a session event: the session (grant) that ended.
    #[serde(default)]
    pub session_id: Option<String>,
    pub event_type: String,
    pub event: Value,
    /// The SET's `jti`, fixed when it was queued, so that a retried delivery is recognisably
    /// the same event (RFC 8417 section 2.2).
    pub jti: String,
}

impl OutboxKind for SecurityEventNotice {
    const KIND: &'static str = "security_event";
}

/// Why a consent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentEnd {
    /// The citizen withdrew it (unlinked the service).
    Withdrawn,
    /// It reached its `expires_at`.
    Expired,
}

/// A consent's ending, as its events will tell it.
#[derive(Debug, Clone)]
pub(crate) struct ConsentEndedEvents {
    client_id: String,
    subject: String,
    consent: Consent,
    why: ConsentEnd,
    now: crate::kernel::UnixTime,
}

impl ConsentEndedEvents {
    /// One `consent-ended`, and one CAEP `session-revoked` per session in `ended`, as outbox
    /// messages.
    pub(crate) fn messages(&self, ended: &[GrantId]) -> Vec<OutboxMessage> {
        let reason = match self.why {
            ConsentEnd::Withdrawn => "withdrawn",
            ConsentEnd::Expired => "expired",
        };
        let mut consent_event = json!({
            "event_timestamp": self.now,
            "reason": reason,
            "scopes": self.consent.scopes,
            "claims": self.consent.claims,
        });
        if let Some(purpose) = &self.consent.purpose {
            consent_event["purpose"] = json!(purpose);
        }
        let notice =
            |session_id: Option<String>, event_type: &str, event: Value| SecurityEventNotice {
                client_id: self.client_id.clone(),
                subject: self.subject.clone(),
                session_id,
                event_type: event_type.to_owned(),
                event,
                jti: random_token(16),
            };
        let initiating_entity = match self.why {
            ConsentEnd::Withdrawn => "user",
            ConsentEnd::Expired => "policy",
        };
        let mut notices = vec![notice(None, CONSENT_ENDED, consent_event)];
        notices.extend(ended.iter().map(|session| {
            let event =
                json!({"event_timestamp": self.now, "initiating_entity": initiating_entity});
            notice(Some(session.to_string()), SESSION_REVOKED, event)
        }));
        notices
            .iter()
            .filter_map(|n| {
                OutboxMessage::new(format!("se_{}", random_token(16)), n, self.now).ok()
            })
            .collect()
    }
}

impl OidcService {
    /// The events `client` should get when `consent` ends, to be completed with the sessions
    /// that end with it (`ConsentEndedEvents::messages`) inside the transaction that ends them;
    /// `None` if the client registered no push URL.
    pub(crate) fn consent_ended_events(
        &self,
        client: &Client,
        account_id: &AccountId,
        consent: &Consent,
        why: ConsentEnd,
    ) -> Option<ConsentEndedEvents> {
        client.security_events_push_uri.as_ref()?;
        Some(ConsentEndedEvents {
            client_id: client.id.to_string(),
            subject: self.pairwise_subject(account_id, client),
            consent: consent.clone(),
            why,
            now: self.ctx.now(),
        })
    }

    /// Delivers the security events that are due; returns how many were tried.
    pub async fn deliver_security_events(&self) -> Result<usize, Internal> {
        let store = self.store.as_ref();
        Ok(outbox::deliver_due(store, self.ctx.clock.as_ref(), |n| self.deliver_event(n)).await?)
    }

    async fn deliver_event(&self, notice: SecurityEventNotice) -> Attempt {
        let client = match self.store.find_client(&notice.client_id.clone().into()).await {
            Ok(client) => client,
            Err(e) => return Attempt::Failed(Chain(&e).to_string()),
        };
        let Some((client, uri)) =
            client.and_then(|c| c.security_events_push_uri.clone().map(|uri| (c, uri)))
        else {
            return Attempt::Refused("the service is gone or no longer listens".into());
        };
        let token = match self.security_event_token(&client, &notice) {
            Ok(token) => token,
            Err(e) => return Attempt::Failed(Chain(&e).to_string()),
        };
        match self.logout_notifier.push_event(&uri, &token).await {
            Ok(()) => {
                tracing::info!(client_id = %client.id, event = %notice.event_type, "security event delivered");
                Attempt::Delivered
            }
            Err(e) if e.permanent => Attempt::Refused(e.cause),
            Err(e) => Attempt::Failed(e.cause),
        }
    }

    /// A consent receipt for the citizen to keep: a JWT typed `consent-receipt+jwt`, signed
    /// with the platform's ES256 key (verifiable against the JWKS), naming the service, its
    /// purpose, the scopes and claims, when the consent was given and when it ends, and the
    /// citizen by the pairwise `sub` that service knows. Its members are in docs/EME.md.
    pub(crate) fn consent_receipt(
        &self,
        client: &Client,
        consent: &Consent,
    ) -> Result<String, Internal> {
        let now = self.ctx.now();
        let claims = json!({
            "iss": self.ctx.settings.issuer,
            "sub": self.pairwise_subject(&consent.account_id, client),
            "iat": now,
            "jti": random_token(16),
            "consent": {
                "client_id": client.id,
                "client_name": client.name,
                "purpose": consent.purpose,
                "scopes": consent.scopes,
                "claims": consent.claims,
                "granted_at": consent.granted_at,
                "linked_at": consent.linked_at,
                "expires_at": consent.expires_at,
                "approvals": consent.approvals_or_whole(),
            },
        });
        let signer = self
            .keys
            .signer(civpass_crypto::jws::Algorithm::ES256, now)
            .ok_or_else(|| Internal::new("no ES256 signing key"))?;
        signer
            .sign("consent-receipt+jwt", &claims)
            .map_err(|e| Internal::caused("signing a consent receipt", e))
    }

    /// The SET (RFC 8417 section 2.2, SSF 1.0 section 4): `iss`, `aud` (the client), `iat`,
    /// `jti`, `sub_id`, and `events` with the one event; signed like the client's ID tokens,
    /// typed `secevent+jwt` (section 2.3).
    pub(crate) fn security_event_token(
        &self,
        client: &Client,
        notice: &SecurityEventNotice,
    ) -> Result<String, Internal> {
        let now = self.ctx.now();
        let user =
            json!({"format": "iss_sub", "iss": self.ctx.settings.issuer, "sub": notice.subject});
        let sub_id = match &notice.session_id {
            None => user,
            Some(session) => {
                json!({"format": "complex", "user": user, "session": {"format": "opaque", "id": session}})
            }
        };
        let claims = json!({
            "iss": self.ctx.settings.issuer,
            "aud": client.id,
            "iat": now,
            "jti": notice.jti,
            "sub_id": sub_id,
            "events": {notice.event_type.clone(): notice.event},
        });
        let signer = self.keys.signer(client.id_token_alg, now).ok_or_else(|| {
            Internal::new(format!("no {} signing key", client.id_token_alg.as_str()))
        })?;
        signer
            .sign("secevent+jwt", &claims)
            .map_err(|e| Internal::caused("signing a security event token", e))
    }
}
