//! Storage ports, one trait per aggregate. Each method is atomic on its own. A use case that
//! changes several aggregates together writes through a `Transaction` (`transact`), so that
//! the rules stay here and the store only runs the SQL.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::identity::evidence::EvidenceRecord;
use crate::kernel::clock::UnixTime;
use crate::model::{
    Account, AppSession, Ceremony, Client, Consent, Decision, Device, Grant, LoginRequest,
    LogoutNotice, Release, StoredSigningKey,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict with existing data ({0})")]
    Conflict(String),
    #[error("storage failed: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait ClientStore {
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    /// A live (not deleted) client, enabled or disabled.
    async fn find_client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// Every live client, oldest first.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Suspends a live client (`Some(when)`) or enables it (`None`); false if there is none.
    async fn set_client_disabled(&self, id: &str, at: Option<UnixTime>) -> StoreResult<bool>;
    /// Replaces the secret hash of a live client that has one; false otherwise.
    async fn set_client_secret(&self, id: &str, secret_hash: &str) -> StoreResult<bool>;
    /// Records a client assertion's `jti`; false if the client used it before (a replay).
    async fn use_client_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Forgets assertions that expired before `cutoff` (they cannot be replayed any more).
    async fn delete_client_assertions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    /// Replaces a live client's metadata (all but its id and creation time); false if there
    /// is no such client or it was deleted.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    /// Marks a client deleted and revokes its grants, in one transaction; false if there was
    /// none. Deleted clients are not found any more.
    async fn delete_client(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    async fn insert_registration_token(
        &self,
        token_hash: &str,
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()>;
    /// The expiry of an initial access token, if it exists.
    async fn find_registration_token(&self, token_hash: &str) -> StoreResult<Option<UnixTime>>;
}

#[async_trait]
pub trait AccountStore {
    /// Inserts a new account with its first device and the evidence its identity rests on, in
    /// one transaction; `Conflict` if the HKID hash is taken.
    async fn insert_account(
        &self,
        account: &Account,
        device: &Device,
        evidence: &EvidenceRecord,
    ) -> StoreResult<()>;
    /// The evidence records of an account, oldest first.
    async fn list_evidence(&self, account_id: &str) -> StoreResult<Vec<EvidenceRecord>>;
    async fn find_account_by_hkid_hash(&self, hkid_hash: &str) -> StoreResult<Option<Account>>;
    async fn get_account(&self, id: &str) -> StoreResult<Account>;
    async fn find_device(&self, id: &str) -> StoreResult<Option<Device>>;
    /// Whether any device, active or revoked, holds this passkey credential id.
    async fn credential_registered(&self, credential_id: &str) -> StoreResult<bool>;
    /// Revokes `old_device_id` and adds `new_device` in one step; false if the old device was
    /// no longer active.
    async fn replace_device(
        &self,
        old_device_id: &str,
        new_device: &Device,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Replaces a device's key record if it is still `old_key` (a passkey's counter moved);
    /// false if it changed meanwhile or the device was revoked.
    async fn update_device_key(
        &self,
        device_id: &str,
        old_key: &str,
        new_key: &str,
    ) -> StoreResult<bool>;
}

/// Whose pending login requests to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKey<'a> {
    /// A browser, by the hash of its binding cookie.
    Browser(&'a str),
    /// A client address, by the keyed hash of its key (requests from new browsers only).
    Origin(&'a str),
}

/// How a code redemption went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    Redeemed,
    /// The code was used before: the grant it produced should be revoked.
    AlreadyRedeemed {
        grant_id: Option<String>,
    },
    Unknown,
}

#[async_trait]
pub trait LoginStore {
    async fn insert_login_request(&self, request: &LoginRequest) -> StoreResult<()>;
    async fn find_login_request(&self, id: &str) -> StoreResult<Option<LoginRequest>>;
    async fn find_login_request_by_code(
        &self,
        code_hash: &str,
    ) -> StoreResult<Option<LoginRequest>>;
    /// Approved → completed, attaching the code; false if it was not approved.
    async fn complete_login_request(
        &self,
        id: &str,
        code_hash: &str,
        code_expires_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Stores a pushed authorization request's parameters (sealed, base64url) under `id`, with
    /// the keyed hash of the address that pushed it (for public clients).
    async fn insert_pushed_request(
        &self,
        id: &str,
        client_id: &str,
        params: &str,
        expires_at: UnixTime,
        origin_hash: Option<&str>,
    ) -> StoreResult<()>;
    /// How many pushed requests from this address have not expired at `now`.
    async fn count_pending_pushed_requests(
        &self,
        origin_hash: &str,
        now: UnixTime,
    ) -> StoreResult<u64>;
    /// Deletes pushed requests that expired before `cutoff`; returns how many.
    async fn delete_pushed_requests_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    /// Removes and returns the parameters if the pushed request is `client_id`'s and has not
    /// expired at `now`: each is used once, and only by its client.
    async fn take_pushed_request(
        &self,
        id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<String>>;
    /// Deletes login requests that expired before `cutoff`, and those that
    /// never got as far as a code (pending, approved, denied, failed) already when they expired
    /// before `unfinished_cutoff`; returns how many.
    async fn delete_login_requests_expired_before(
        &self,
        cutoff: UnixTime,
        unfinished_cutoff: UnixTime,
    ) -> StoreResult<u64>;
    /// How many pending, unexpired login requests a browser or a client address holds at `now`.
    async fn count_pending_login_requests(
        &self,
        key: PendingKey<'_>,
        now: UnixTime,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait GrantStore {
    async fn find_grant(&self, id: &str) -> StoreResult<Option<Grant>>;
    async fn find_grant_by_refresh_hash(&self, refresh_hash: &str) -> StoreResult<Option<Grant>>;
    /// The grant whose refresh token this was before a rotation replaced it.
    async fn find_grant_by_retired_refresh_hash(
        &self,
        refresh_hash: &str,
    ) -> StoreResult<Option<Grant>>;
    /// Forgets retired refresh tokens retired before `cutoff`; returns how many.
    async fn delete_retired_refresh_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    /// Revokes a grant; true if this call revoked it (it was live).
    async fn revoke_grant(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Remembers a revoked access token that has no grant to revoke (client credentials)
    /// until it expires; revoking one twice is not an error.
    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()>;
    /// Whether the access token with this `jti` was revoked.
    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// Forgets revoked access tokens that expired before `cutoff`; returns how many.
    async fn delete_revoked_access_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    async fn insert_release(&self, release: &Release) -> StoreResult<()>;
    async fn list_releases(&self, account_id: &str) -> StoreResult<Vec<Release>>;
    async fn list_consents(&self, account_id: &str) -> StoreResult<Vec<Consent>>;
}

/// What a `Transaction`'s work returns: a future that may borrow the transaction.
pub type TxFuture<'t, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 't>>;

/// Work for one transaction. It may do nothing but its writes through the `Transaction`: no
/// other I/O (on SQLite it runs inside a group commit that other writes wait on), and no call
/// to the store itself (which would wait on the transaction it runs in; the store refuses it).
/// It must pass every error on (`?`): PostgreSQL refuses the rest of a transaction after a
/// failed statement, where SQLite would carry on.
pub type Work<T> = Box<dyn for<'t> FnOnce(&'t mut dyn Transaction) -> TxFuture<'t, T> + Send>;

/// The writes a use case can make together, in one transaction (see `transact`). Each reads
/// and writes only what its name says; the rules that combine them live in core.
#[async_trait]
pub trait Transaction: Send {
    /// Deletes the consent of an account for a client; false if there was none.
    async fn delete_consent(&mut self, account_id: &str, client_id: &str) -> StoreResult<bool>;
    /// Revokes every live grant of an account with a client; returns their ids.
    async fn revoke_live_grants(
        &mut self,
        account_id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>>;
    /// Revokes a grant; true if it was live.
    async fn revoke_grant(&mut self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Queues a back-channel logout for delivery (`OutboxStore`).
    async fn insert_logout_notice(&mut self, notice: &LogoutNotice) -> StoreResult<()>;
    /// Applies the decision if the request is still pending and unexpired at `now`; false if
    /// it was not (decided already, or expired).
    async fn decide_login_request(
        &mut self,
        id: &str,
        decision: &Decision,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Records (or renews) what a citizen agreed a service may receive.
    async fn upsert_consent(&mut self, consent: &Consent) -> StoreResult<()>;
    /// Completed → redeemed for the code with this hash, naming the grant it produces; else
    /// what became of the code.
    async fn redeem_code(&mut self, code_hash: &str, grant_id: &str) -> StoreResult<Redemption>;
    async fn insert_grant(&mut self, grant: &Grant) -> StoreResult<()>;
    /// Replaces a live grant's refresh token if `old_hash` is still the current one; false if
    /// it is not (another request rotated it first) or the grant was revoked.
    async fn replace_refresh_token(
        &mut self,
        grant_id: &str,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Remembers a replaced refresh token, so that its reuse is recognised.
    async fn retire_refresh_token(
        &mut self,
        refresh_hash: &str,
        grant_id: &str,
        now: UnixTime,
    ) -> StoreResult<()>;
    async fn insert_release(&mut self, release: &Release) -> StoreResult<()>;
}

/// The transaction seam: a store runs work in one transaction (a savepoint of the SQLite group
/// commit, a transaction of its own on PostgreSQL), answering once it is durable; an error from
/// the work rolls all of it back. Type-erased so that `Store` stays a trait object; use
/// `transact`.
#[async_trait]
pub trait TransactionStore {
    async fn transact_erased(
        &self,
        work: Work<Box<dyn Any + Send>>,
    ) -> StoreResult<Box<dyn Any + Send>>;
}

/// Runs `work` in one transaction of `store` and returns what it returned.
///
/// Errors: the work's own, or `Backend` if the transaction could not commit.
pub async fn transact<T, F>(store: &dyn Store, work: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Transaction) -> TxFuture<'t, T> + Send + 'static,
{
    let erased: Work<Box<dyn Any + Send>> = Box::new(move |tx| {
        Box::pin(async move { work(tx).await.map(|value| Box::new(value) as Box<dyn Any + Send>) })
    });
    let value = store.transact_erased(erased).await?;
    value
        .downcast::<T>()
        .map(|boxed| *boxed)
        .map_err(|_| StoreError::Backend("a transaction returned another type".into()))
}

#[async_trait]
pub trait CeremonyStore {
    async fn insert_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()>;
    /// Removes and returns the ceremony if it has not expired at `now`: each is answered once.
    async fn take_ceremony(&self, id: &str, now: UnixTime) -> StoreResult<Option<Ceremony>>;
    async fn insert_app_session(&self, session: &AppSession) -> StoreResult<()>;
    async fn find_app_session(&self, token_hash: &str) -> StoreResult<Option<AppSession>>;
    /// Records a DPoP proof's id (key and jti); false if it was seen before (a replay).
    async fn use_dpop_proof(&self, id: &str, expires_at: UnixTime) -> StoreResult<bool>;
    /// Deletes ceremonies, app sessions and DPoP proof ids that expired before `cutoff`;
    /// returns how many.
    async fn delete_ceremonies_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

/// Back-channel logout notices waiting for delivery (an outbox).
#[async_trait]
pub trait OutboxStore {
    async fn insert_logout_notice(&self, notice: &LogoutNotice) -> StoreResult<()>;
    /// Up to `limit` notices due at `now`, each leased until `lease_until` so that another
    /// node does not deliver it at the same time.
    async fn claim_logout_notices(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<LogoutNotice>>;
    /// Records a failed attempt: the next one is at `next_attempt_at`. Only while the notice is
    /// still under the lease `leased_until` its claim set.
    async fn reschedule_logout_notice(
        &self,
        id: &str,
        leased_until: UnixTime,
        attempts: i64,
        next_attempt_at: UnixTime,
    ) -> StoreResult<()>;
    /// Deletes a notice still under the lease `leased_until`.
    async fn delete_logout_notice(&self, id: &str, leased_until: UnixTime) -> StoreResult<()>;
}

/// Counters of attempts per key in fixed windows: how many times something (a registration
/// naming one identity) was tried lately, whatever address it came from.
#[async_trait]
pub trait AttemptStore {
    /// Counts one attempt under `key` and returns the attempts in the current window, this one
    /// included. A window that began at or before `window_start_cutoff` is over: the count starts
    /// again at one, in a window beginning at `now`.
    async fn count_attempt(
        &self,
        key: &str,
        now: UnixTime,
        window_start_cutoff: UnixTime,
    ) -> StoreResult<i64>;
    /// Forgets counters whose window began before `cutoff`; returns how many.
    async fn delete_attempts_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
pub trait KeyStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;
    /// Sets when a key leaves the JWKS, if it has no such time yet.
    async fn retire_signing_key(&self, kid: &str, retires_at: UnixTime) -> StoreResult<()>;
}

pub trait Store:
    ClientStore
    + AccountStore
    + LoginStore
    + GrantStore
    + KeyStore
    + CeremonyStore
    + OutboxStore
    + AttemptStore
    + TransactionStore
    + Send
    + Sync
{
}

impl<
    T: ClientStore
        + AccountStore
        + LoginStore
        + GrantStore
        + KeyStore
        + CeremonyStore
        + OutboxStore
        + AttemptStore
        + TransactionStore
        + Send
        + Sync,
> Store for T
{
}
