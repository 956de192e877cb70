//! The typed durable outbox: messages a use case stores in the same transaction as the change
//! they report (so one cannot happen without the other), delivered afterwards, with retries,
//! by whichever node claims them first. Back-channel logout is its first kind
//! (`oidc::logout::LogoutNotice`); notifications, webhooks, security events and the ledger are
//! meant to be the next ones, each a type implementing `OutboxKind`.
//!
//! A claim is a lease: the claiming node moves the message's next attempt to the end of the
//! lease, and every later write is conditional on that lease, so that if it ran out and another
//! node took the message over, the newer record wins. Delivery is at least once.

use std::future::Future;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::kernel::clock::{Clock, UnixTime};
use crate::kernel::store::{StoreError, StoreResult};

/// How often and how patiently a kind's messages are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a message is given up.
    pub max_attempts: i64,
    /// The wait after the first failure, in seconds; it doubles after each later one.
    pub first_wait: i64,
    /// The longest wait between attempts, in seconds.
    pub max_wait: i64,
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failure: `first_wait`, doubling, at most `max_wait`.
    pub fn wait_after(&self, attempts: i64) -> i64 {
        let doublings = u32::try_from(attempts.clamp(1, 16) - 1).unwrap_or(0);
        self.first_wait.saturating_mul(1_i64 << doublings).min(self.max_wait)
    }
}

/// A kind of outbox message: its stored name and its payload, as JSON.
///
/// The payload is stored as it is: a kind that carries personal data seals it itself (as the
/// vault does), with the message id as associated data.
pub trait OutboxKind: Serialize + DeserializeOwned + Send {
    /// The name stored with each message; it must never change once messages of it exist.
    const KIND: &'static str;
    /// Ten attempts over about three hours: 30 s, doubling, at most an hour apart.
    const RETRY: RetryPolicy = RetryPolicy { max_attempts: 10, first_wait: 30, max_wait: 3600 };
}

/// A stored message, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: String,
    /// `OutboxKind::KIND` of its payload.
    pub kind: String,
    /// The payload, as JSON.
    pub payload: String,
    /// Deliveries tried so far.
    pub attempts: i64,
    /// When it is due (or, while claimed, when its lease ends).
    pub next_attempt_at: UnixTime,
    pub created_at: UnixTime,
}

impl OutboxMessage {
    /// A message of kind `K`, due at once.
    ///
    /// Errors: `Backend` if the payload cannot be written as JSON (a map with non-string keys).
    pub fn new<K: OutboxKind>(id: String, payload: &K, now: UnixTime) -> StoreResult<Self> {
        let payload = serde_json::to_string(payload).map_err(|e| {
            StoreError::Backend(Box::new(crate::kernel::Internal::caused(
                format!("an outbox payload of {}", K::KIND),
                e,
            )))
        })?;
        Ok(OutboxMessage {
            id,
            kind: K::KIND.to_owned(),
            payload,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
        })
    }

    /// The payload, if it is of kind `K` and reads as one.
    pub fn payload<K: OutboxKind>(&self) -> Option<K> {
        (self.kind == K::KIND).then(|| serde_json::from_str(&self.payload).ok()).flatten()
    }
}

/// Messages waiting for delivery.
#[async_trait]
pub trait OutboxStore {
    async fn insert_message(&self, message: &OutboxMessage) -> StoreResult<()>;
    /// Up to `limit` messages of `kind` due at `now`, oldest due first, each leased until
    /// `lease_until` so that another node does not deliver it at the same time.
    async fn claim_messages(
        &self,
        kind: &str,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>>;
    /// Records a failed attempt: the next one is at `next_attempt_at`. Only while the message
    /// is still under the lease `leased_until` its claim set.
    async fn reschedule_message(
        &self,
        id: &str,
        leased_until: UnixTime,
        attempts: i64,
        next_attempt_at: UnixTime,
    ) -> StoreResult<()>;
    /// Deletes a message still under the lease `leased_until`.
    async fn delete_message(&self, id: &str, leased_until: UnixTime) -> StoreResult<()>;
    /// How many messages wait, of every kind, and when the oldest was queued.
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
}

/// The outbox's backlog, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub depth: u64,
    /// `created_at` of the oldest message; `None` when the outbox is empty.
    pub oldest_created_at: Option<UnixTime>,
}

/// The outbox write a use case makes inside a transaction, with the change it reports.
#[async_trait]
pub trait OutboxWrites: Send {
    async fn insert_message(&mut self, message: &OutboxMessage) -> StoreResult<()>;
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Failed for now; tried again after the kind's backoff, until its attempts run out.
    Failed(String),
    /// Trying again would get the same answer (the recipient refused it, or is gone).
    Refused(String),
}

/// How long a node may take over a claimed batch before another node may try it.
pub const LEASE_SECONDS: i64 = 120;

/// Messages delivered per round: each attempt must be bounded (an outbound call has its own
/// deadline), so a round ends well within the lease.
pub const BATCH: u32 = 8;

/// One delivery round for kind `K`: claims the messages that are due, hands each payload to
/// `deliver`, and deletes or reschedules it by the outcome. Returns how many were tried; a full
/// batch (`BATCH`) means more may be due. A payload that no longer reads is given up.
///
/// Errors: the store's, from claiming or recording an outcome; a message whose outcome was
/// not recorded is tried again when its lease ends.
pub async fn deliver_due<K, F, Fut>(
    store: &(dyn OutboxStore + Send + Sync),
    clock: &dyn Clock,
    mut deliver: F,
) -> StoreResult<usize>
where
    K: OutboxKind,
    F: FnMut(K) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let now = clock.now();
    let lease = now + LEASE_SECONDS;
    let due = store.claim_messages(K::KIND, now, lease, BATCH).await?;
    for message in &due {
        let outcome = match message.payload::<K>() {
            Some(payload) => deliver(payload).await,
            None => Attempt::Refused("the payload does not read as its kind".into()),
        };
        let attempts = message.attempts + 1;
        let (kind, id) = (K::KIND, message.id.as_str());
        match outcome {
            Attempt::Delivered => {
                store.delete_message(id, lease).await?;
                tracing::info!(kind, id, attempts, "outbox message delivered");
            }
            Attempt::Refused(cause) => {
                store.delete_message(id, lease).await?;
                tracing::error!(kind, id, attempts, cause, "outbox message refused; given up");
            }
            Attempt::Failed(cause) if attempts >= K::RETRY.max_attempts => {
                store.delete_message(id, lease).await?;
                tracing::error!(kind, id, attempts, cause, "outbox message given up");
            }
            Attempt::Failed(cause) => {
                let next = clock.now() + K::RETRY.wait_after(attempts);
                store.reschedule_message(id, lease, attempts, next).await?;
                tracing::warn!(kind, id, attempts, cause, "outbox delivery failed; will retry");
            }
        }
    }
    Ok(due.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Ping {
        to: String,
    }

    impl OutboxKind for Ping {
        const KIND: &'static str = "ping";
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Pong {
        to: String,
    }

    impl OutboxKind for Pong {
        const KIND: &'static str = "pong";
    }

    #[test]
    fn a_payload_reads_back_only_as_its_own_kind() {
        let message = OutboxMessage::new("m1".into(), &Ping { to: "a".into() }, 7).unwrap();
        assert_eq!(
            (message.kind.as_str(), message.attempts, message.next_attempt_at),
            ("ping", 0, 7)
        );
        assert_eq!(message.payload::<Ping>(), Some(Ping { to: "a".into() }));
        assert!(message.payload::<Pong>().is_none());
        let garbled = OutboxMessage { payload: "{".into(), ..message };
        assert!(garbled.payload::<Ping>().is_none());
    }

    #[test]
    fn retries_back_off_doubling_up_to_the_longest_wait() {
        let waits: Vec<i64> = (1..=9).map(|n| Ping::RETRY.wait_after(n)).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(Ping::RETRY.wait_after(0), 30);
        assert_eq!(Ping::RETRY.wait_after(i64::MAX), 3600);
    }
}
