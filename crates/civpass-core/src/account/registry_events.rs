//! The population registry over time: change events, from a file an operator feeds
//! (`civpass registry events FILE.jsonl`) or pulled from the HTTP registry's feed, act on the
//! accounts they name. `deceased` suspends the account and tells its services; `name_changed`
//! puts the new names in the vault; `card_replaced` is recorded. Each event id is applied once,
//! in the same transaction as its effect, so a feed applied twice changes nothing more.

use serde::Serialize;

use crate::account::AccountService;
use crate::account::lifecycle::Suspension;
use crate::identity::model::OperatorAct;
use crate::identity::registry::{RegistryChange, RegistryError, RegistryEvent};
use crate::kernel::Internal;
use crate::kernel::store::transact;

/// What one event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Applied before: nothing more was done.
    AlreadyApplied,
    /// No account holds the identity: recorded, nothing else.
    NoAccount,
    /// The account was suspended and its services told.
    Suspended,
    /// The account was suspended already: recorded.
    AlreadySuspended,
    NameUpdated,
    CardRecorded,
}

impl AccountService {
    /// Applies one registry event (see the module documentation).
    ///
    /// Errors: the store's.
    pub async fn apply_registry_event(&self, event: &RegistryEvent) -> Result<Applied, Internal> {
        let now = self.ctx.now();
        let account =
            self.identity.account_by_hkid_hash(&self.identity.hkid_hash(&event.hkid)).await?;
        let id = event.id.clone();
        let Some(account) = account else {
            let recorded = self.record_only(id, now).await?;
            return Ok(if recorded { Applied::NoAccount } else { Applied::AlreadyApplied });
        };
        let why = format!("population registry event {} ({})", event.id, event.change.as_str());
        let applied = match &event.change {
            RegistryChange::Deceased => {
                match self.suspend_account(&account, &why, Some(event.id.clone())).await? {
                    Suspension::Done(_) => Applied::Suspended,
                    Suspension::AlreadySuspended => {
                        // Recorded, so that it is not tried again.
                        let recorded = self.record_only(id, now).await?;
                        if recorded { Applied::AlreadySuspended } else { Applied::AlreadyApplied }
                    }
                    Suspension::AlreadyApplied => Applied::AlreadyApplied,
                }
            }
            RegistryChange::NameChanged { name_en, name_zh } => {
                let mut identity = self.identity.open_identity(&account).await?;
                identity.name_en = name_en.trim().to_owned();
                identity.name_zh = name_zh.trim().to_owned();
                let vault = self.identity.seal_vault(&account.id, &identity).await?;
                let record = self.event(&account, OperatorAct::NameChanged, &why).await?;
                let account_id = account.id.clone();
                let done = transact(self.store.as_ref(), move |tx| {
                    Box::pin(async move {
                        if !tx.record_registry_event(&id, now).await? {
                            return Ok(false);
                        }
                        tx.replace_vault(&account_id, &vault).await?;
                        tx.insert_account_event(&record).await?;
                        Ok(true)
                    })
                })
                .await?;
                if done { Applied::NameUpdated } else { Applied::AlreadyApplied }
            }
            RegistryChange::CardReplaced => {
                let record = self.event(&account, OperatorAct::CardReplaced, &why).await?;
                let done = transact(self.store.as_ref(), move |tx| {
                    Box::pin(async move {
                        if !tx.record_registry_event(&id, now).await? {
                            return Ok(false);
                        }
                        tx.insert_account_event(&record).await?;
                        Ok(true)
                    })
                })
                .await?;
                if done { Applied::CardRecorded } else { Applied::AlreadyApplied }
            }
        };
        tracing::info!(event_id = %event.id, change = event.change.as_str(), applied = ?applied, "registry event");
        Ok(applied)
    }

    /// Records an event applied with no effect; false if it had been already.
    async fn record_only(
        &self,
        id: String,
        now: crate::kernel::UnixTime,
    ) -> Result<bool, Internal> {
        Ok(transact(self.store.as_ref(), move |tx| {
            Box::pin(async move { tx.record_registry_event(&id, now).await })
        })
        .await?)
    }

    /// Reads the registry's feed from where it was left and applies what is new; returns how
    /// many events were read. The cursor moves past each event once it is applied, so a
    /// failure part-way resumes there.
    ///
    /// Errors: the registry's (unavailable), or the store's.
    pub async fn pull_registry_events(&self) -> Result<usize, PullError> {
        let mut read = 0;
        loop {
            let cursor = self.identity.registry_cursor().await?;
            let events = self.identity.registry_events_after(cursor.as_deref()).await?;
            if events.is_empty() {
                return Ok(read);
            }
            for event in &events {
                self.apply_registry_event(event).await?;
                self.identity.set_registry_cursor(&event.id).await?;
                read += 1;
            }
        }
    }
}

/// Why a pull of the registry's feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("the registry's event feed could not be read")]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Internal(#[from] Internal),
}
