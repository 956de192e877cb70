//! An account over its lifetime: operators suspend and reinstate accounts and downgrade plus
//! to basic, each with a reason (a suspension ends the account's grants, and every service that
//! held a session hears of it by back-channel logout); citizens list their devices, revoke a
//! lost one from another, and see their account's history (registered, upgraded, devices added
//! and revoked, the operator's acts: where and when).

use std::collections::HashMap;

use serde::Serialize;

use crate::account::{AccountService, SessionError};
use crate::identity::hkid::{HkId, HkIdError};
use crate::identity::in_person::{IN_PERSON_CARD, KIOSK_CARD_FACE_MATCH};
use crate::identity::model::{Account, AccountEvent, Device, OperatorAct, Tier};
use crate::kernel::store::{StoreError, transact};
use crate::kernel::{AccountId, ClientId, DeviceId, GrantId, Internal};
use crate::oidc::logout::per_session;

/// Why an operator's act on an account did nothing.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    InvalidIdNumber(#[from] HkIdError),
    #[error(
        "a reason is needed: 1 to 500 characters, without control, invisible or direction-changing characters"
    )]
    InvalidReason,
    #[error("no account holds this identity")]
    NoAccount,
    #[error("the account is suspended already; nothing changed")]
    AlreadySuspended,
    #[error("the account is not suspended; nothing changed")]
    NotSuspended,
    #[error("the account is basic already; nothing changed")]
    NotPlus,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for LifecycleError {
    fn from(e: StoreError) -> LifecycleError {
        LifecycleError::Internal(e.into())
    }
}

/// What a suspension came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspension {
    /// Suspended; this many sessions ended.
    Done(usize),
    AlreadySuspended,
    /// The registry event that asked for it was applied before.
    AlreadyApplied,
}

/// What an operator's act did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActDone {
    pub account_id: String,
    pub act: OperatorAct,
    /// Sessions ended (suspension), each told to its service by back-channel logout if it
    /// listens.
    pub sessions_ended: usize,
}

/// One entry of an account's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub at: i64,
    /// `registered`, `upgraded`, `device_replaced` (at a counter), `device_added`,
    /// `device_revoked`, `suspended`, `reinstated`, `downgraded`, `name_changed`,
    /// `card_replaced`; for a minor `guardian_requested` and `guardian_approved`, for their
    /// guardian `approved_as_guardian`.
    pub what: String,
    /// `remote`, `counter`, `app` or `operator`.
    pub channel: String,
    pub device_id: Option<String>,
    /// The registration point, in three languages, for what happened at one.
    pub point: Option<[String; 3]>,
    /// The operator's reason (operators only; the citizen is not shown it).
    pub reason: Option<String>,
}

/// A device as the citizen's list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceEntry {
    pub id: String,
    /// `software` or `passkey`.
    pub kind: String,
    pub added_at: i64,
    pub revoked_at: Option<i64>,
    /// The device this session was opened with.
    pub current: bool,
}

fn reason(text: &str) -> Result<String, LifecycleError> {
    crate::kernel::text::display_text(text, 500).ok_or(LifecycleError::InvalidReason)
}

impl AccountService {
    async fn account_of(&self, id_number: &str) -> Result<Account, LifecycleError> {
        let hkid = HkId::parse(id_number)?;
        self.identity
            .account_by_hkid_hash(&self.identity.hkid_hash(&hkid))
            .await?
            .ok_or(LifecycleError::NoAccount)
    }

    pub(crate) async fn event(
        &self,
        account: &Account,
        kind: OperatorAct,
        why: &str,
    ) -> Result<AccountEvent, Internal> {
        let id = self.ctx.new_id().to_string();
        let sealed_reason =
            self.ctx.data_key(&account.id).await?.seal(why.as_bytes(), account.id.as_bytes())?;
        Ok(AccountEvent {
            id,
            account_id: account.id.clone(),
            at: self.ctx.now(),
            kind,
            sealed_reason,
        })
    }

    /// Suspends the account holding identity `id_number`: it cannot log in, its grants end,
    /// and each service that held a session is sent a back-channel logout, all in one
    /// transaction with the record of the act.
    ///
    /// Errors: `InvalidIdNumber`, `InvalidReason`, `NoAccount`, `AlreadySuspended`.
    pub async fn suspend(&self, id_number: &str, why: &str) -> Result<ActDone, LifecycleError> {
        let why = reason(why)?;
        let account = self.account_of(id_number).await?;
        match self.suspend_account(&account, &why, None).await? {
            Suspension::Done(sessions_ended) => Ok(ActDone {
                account_id: account.id.to_string(),
                act: OperatorAct::Suspended,
                sessions_ended,
            }),
            Suspension::AlreadySuspended | Suspension::AlreadyApplied => {
                Err(LifecycleError::AlreadySuspended)
            }
        }
    }

    /// The suspension itself; with `registry_event`, that event is recorded applied in the
    /// same transaction (and nothing is done if it was already).
    pub(crate) async fn suspend_account(
        &self,
        account: &Account,
        why: &str,
        registry_event: Option<String>,
    ) -> Result<Suspension, Internal> {
        let event = self.event(account, OperatorAct::Suspended, why).await?;
        // The notices' templates, one per linked service: read before the transaction, which
        // may do nothing but its writes.
        let mut templates = HashMap::new();
        for consent in self.consent.consents(&account.id).await? {
            if let Some(client) = self.oidc.client_record(&consent.client_id).await?
                && let Some(template) = self.oidc.logout_notice(&client, &account.id, None)
            {
                templates.insert(client.id.clone(), template);
            }
        }
        let (id, now) = (account.id.clone(), self.ctx.now());
        let outcome = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if let Some(registry_event) = &registry_event
                    && !tx.record_registry_event(registry_event, now).await?
                {
                    return Ok((Suspension::AlreadyApplied, Vec::new()));
                }
                if !tx.set_suspended(&id, Some(now)).await? {
                    return Ok((Suspension::AlreadySuspended, Vec::new()));
                }
                // A suspended citizen signs nothing: the certificates end with the suspension
                // (a new one is issued on reinstatement).
                tx.revoke_signing_credentials(&id, now, "suspended").await?;
                tx.insert_account_event(&event).await?;
                let ended = tx.revoke_account_grants(&id, now).await?;
                let mut by_client: HashMap<ClientId, Vec<GrantId>> = HashMap::new();
                for (grant, client) in ended {
                    by_client.entry(client).or_default().push(grant);
                }
                let mut notices = Vec::new();
                for (client, grants) in &by_client {
                    if let Some(template) = templates.get(client) {
                        notices.extend(per_session(template, grants));
                    }
                }
                for notice in &notices {
                    tx.insert_message(notice).await?;
                }
                Ok((Suspension::Done(notices.len()), notices))
            })
        })
        .await?;
        let (outcome, notices) = outcome;
        if let Suspension::Done(sessions) = outcome {
            tracing::info!(account_id = %account.id, sessions, "account suspended");
            self.oidc.logout_queued(&notices);
        }
        Ok(outcome)
    }

    /// Lifts a suspension.
    ///
    /// Errors: `InvalidIdNumber`, `InvalidReason`, `NoAccount`, `NotSuspended`.
    pub async fn reinstate(&self, id_number: &str, why: &str) -> Result<ActDone, LifecycleError> {
        let why = reason(why)?;
        let account = self.account_of(id_number).await?;
        let event = self.event(&account, OperatorAct::Reinstated, &why).await?;
        let id = account.id.clone();
        let done = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.set_suspended(&id, None).await? {
                    return Ok(false);
                }
                tx.insert_account_event(&event).await?;
                Ok(true)
            })
        })
        .await?;
        if !done {
            return Err(LifecycleError::NotSuspended);
        }
        tracing::info!(account_id = %account.id, "account reinstated");
        self.signing.issue_if_missing(&account.id).await;
        Ok(ActDone {
            account_id: account.id.to_string(),
            act: OperatorAct::Reinstated,
            sessions_ended: 0,
        })
    }

    /// Lowers a plus account to basic: later logins asking for plus are refused.
    ///
    /// Errors: `InvalidIdNumber`, `InvalidReason`, `NoAccount`, `NotPlus`.
    pub async fn downgrade(&self, id_number: &str, why: &str) -> Result<ActDone, LifecycleError> {
        let why = reason(why)?;
        let account = self.account_of(id_number).await?;
        let event = self.event(&account, OperatorAct::Downgraded, &why).await?;
        let (id, now) = (account.id.clone(), self.ctx.now());
        let done = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.change_tier(&id, Tier::Plus, Tier::Basic).await? {
                    return Ok(false);
                }
                tx.insert_account_event(&event).await?;
                // A basic citizen signs nothing: the certificates end with the plus tier.
                tx.revoke_signing_credentials(&id, now, "downgraded").await?;
                Ok(true)
            })
        })
        .await?;
        if !done {
            return Err(LifecycleError::NotPlus);
        }
        tracing::info!(account_id = %account.id, "account downgraded to basic");
        Ok(ActDone {
            account_id: account.id.to_string(),
            act: OperatorAct::Downgraded,
            sessions_ended: 0,
        })
    }

    /// The history of the account holding `id_number`, for an operator (reasons included).
    ///
    /// Errors: `InvalidIdNumber`, `NoAccount`.
    pub async fn history_for_operator(
        &self,
        id_number: &str,
    ) -> Result<Vec<HistoryEntry>, LifecycleError> {
        let account = self.account_of(id_number).await?;
        Ok(self.history(&account.id, true).await?)
    }

    /// The history of the session's account, as the citizen sees it.
    pub async fn my_history(&self, token: &str) -> Result<Vec<HistoryEntry>, SessionError> {
        let session = self.app_session(token).await?;
        Ok(self.history(&session.account_id, false).await?)
    }

    async fn history(
        &self,
        account_id: &AccountId,
        reasons: bool,
    ) -> Result<Vec<HistoryEntry>, Internal> {
        let mut out = Vec::new();
        let entry = |at, what: &str, channel: &str| HistoryEntry {
            at,
            what: what.to_owned(),
            channel: channel.to_owned(),
            device_id: None,
            point: None,
            reason: None,
        };
        for evidence in self.identity.evidence_records(account_id).await? {
            let what = match evidence.purpose.as_str() {
                "upgrade" => "upgraded",
                "replace_device" => "device_replaced",
                _ => "registered",
            };
            let mut e = entry(evidence.verified_at, what, "remote");
            if evidence.method == IN_PERSON_CARD || evidence.method == KIOSK_CARD_FACE_MATCH {
                e.channel =
                    if evidence.method == IN_PERSON_CARD { "counter" } else { "kiosk" }.into();
                let act = self.identity.evidence_reference(&evidence).await?;
                e.point = self
                    .counter
                    .point_of_act(&act)
                    .await?
                    .map(|p| [p.name_en, p.name_zh_hant, p.name_zh_hans]);
            }
            out.push(e);
        }
        for device in self.identity.devices_of(account_id).await? {
            let mut added = entry(device.created_at, "device_added", "app");
            added.device_id = Some(device.id.to_string());
            out.push(added);
            if let Some(at) = device.revoked_at {
                let mut revoked = entry(at, "device_revoked", "app");
                revoked.device_id = Some(device.id.to_string());
                out.push(revoked);
            }
        }
        // A minor's registration and their guardian's approval, seen from both sides (the
        // other person is not named here: each sees their own account's history).
        for link in self.identity.guardian_links_of(account_id).await? {
            let minor = &link.minor_account_id == account_id;
            if minor {
                out.push(entry(link.requested_at, "guardian_requested", "app"));
            }
            if let Some(at) = link.approved_at {
                out.push(entry(
                    at,
                    if minor { "guardian_approved" } else { "approved_as_guardian" },
                    "app",
                ));
            }
        }
        for event in self.identity.account_events(account_id).await? {
            let channel = match event.kind {
                OperatorAct::NameChanged | OperatorAct::CardReplaced => "registry",
                _ => "operator",
            };
            let mut e = entry(event.at, event.kind.as_str(), channel);
            if reasons {
                e.reason = Some(self.identity.open_reason(&event).await?);
            }
            out.push(e);
        }
        // Oldest first. Times are in seconds, so what happened in one second is put in the
        // order it can happen: registered, its device, a device revoked or replaced, then the
        // rest (an upgrade needs the account and its device first).
        let rank = |what: &str| match what {
            "registered" | "guardian_requested" => 0,
            "device_added" => 1,
            "device_revoked" | "device_replaced" => 2,
            _ => 3,
        };
        out.sort_by_key(|e| (e.at, rank(&e.what)));
        Ok(out)
    }

    /// The session's account's devices, oldest first.
    pub async fn my_devices(&self, token: &str) -> Result<Vec<DeviceEntry>, SessionError> {
        let session = self.app_session(token).await?;
        let devices: Vec<Device> = self.identity.devices_of(&session.account_id).await?;
        Ok(devices
            .into_iter()
            .map(|d| DeviceEntry {
                current: d.id == session.device_id,
                id: d.id.to_string(),
                kind: d.kind.as_str().to_owned(),
                added_at: d.created_at,
                revoked_at: d.revoked_at,
            })
            .collect())
    }

    /// Revokes another device of the session's account (a lost phone): it can no longer
    /// approve logins or open sessions.
    ///
    /// Errors: `UnknownDevice` for a device that is not another active one of this account
    /// (the session's own device is revoked by moving the account, or at a counter).
    pub async fn revoke_my_device(&self, token: &str, device_id: &str) -> Result<(), SessionError> {
        let session = self.app_session(token).await?;
        if session.device_id.as_str() == device_id {
            return Err(SessionError::UnknownDevice);
        }
        let (account, device, now) =
            (session.account_id.clone(), DeviceId::from(device_id), self.ctx.now());
        let revoked = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.revoke_device(&account, &device, now).await? {
                    return Ok(false);
                }
                // A lost phone's approvals could have activated the key: its certificates
                // end with it, and a new one is issued below.
                tx.revoke_signing_credentials(&account, now, "device_lost").await?;
                Ok(true)
            })
        })
        .await
        .map_err(Internal::from)?;
        if !revoked {
            return Err(SessionError::UnknownDevice);
        }
        tracing::info!(account_id = %session.account_id, device_id, "device revoked from another device");
        self.signing.issue_if_missing(&session.account_id).await;
        Ok(())
    }
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> SessionError {
        SessionError::Internal(e.into())
    }
}
