//! The OpenID provider's storage ports: clients, login and pushed requests, grants, the replay
//! caches, and the writes its use cases make together in one transaction.

use async_trait::async_trait;

use crate::consent::store::ConsentWrites;
use crate::identity::store::AccountWrites;
use crate::kernel::UnixTime;
use crate::kernel::ids::{AccountId, ClientId, GrantId, LoginRequestId};
use crate::kernel::outbox::OutboxWrites;
use crate::kernel::store::{StoreResult, TxScope};
use crate::oidc::model::{Client, Decision, Grant, LoginRequest};

#[async_trait]
pub trait ClientStore {
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    /// A live (not deleted) client, enabled or disabled.
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>>;
    /// Every live client, oldest first.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Suspends a live client (`Some(when)`) or enables it (`None`); false if there is none.
    async fn set_client_disabled(&self, id: &ClientId, at: Option<UnixTime>) -> StoreResult<bool>;
    /// Replaces the secret hash of a live client that has one; false otherwise.
    async fn set_client_secret(&self, id: &ClientId, secret_hash: &str) -> StoreResult<bool>;
    /// Replaces a live client's metadata (all but its id and creation time); false if there
    /// is no such client or it was deleted.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    async fn insert_registration_token(
        &self,
        token_hash: &str,
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()>;
    /// The expiry of an initial access token, if it exists.
    async fn find_registration_token(&self, token_hash: &str) -> StoreResult<Option<UnixTime>>;
}

/// One-time values seen before: client assertions' `jti` (RFC 7523 section 3) and DPoP proofs
/// (RFC 9449 section 11.1), each kept until it could no longer be accepted anyway.
#[async_trait]
pub trait ReplayStore {
    /// Records a client assertion's `jti`; false if the client used it before (a replay).
    async fn use_client_assertion(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Forgets assertions that expired before `cutoff` (they cannot be replayed any more).
    async fn delete_client_assertions_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    /// Records a DPoP proof's id (key and jti); false if it was seen before (a replay).
    async fn use_dpop_proof(&self, id: &str, expires_at: UnixTime) -> StoreResult<bool>;
    /// Forgets DPoP proof ids that expired before `cutoff`; returns how many.
    async fn delete_dpop_proofs_expired_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
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
        grant_id: Option<GrantId>,
    },
    Unknown,
}

/// What a purge of login requests deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedLoginRequests {
    pub deleted: u64,
    /// Of those, the requests that expired still pending: nobody approved or refused them.
    pub never_decided: u64,
}

#[async_trait]
pub trait LoginStore {
    async fn insert_login_request(&self, request: &LoginRequest) -> StoreResult<()>;
    async fn find_login_request(&self, id: &LoginRequestId) -> StoreResult<Option<LoginRequest>>;
    async fn find_login_request_by_code(
        &self,
        code_hash: &str,
    ) -> StoreResult<Option<LoginRequest>>;
    /// Approved → completed, attaching the code; false if it was not approved.
    async fn complete_login_request(
        &self,
        id: &LoginRequestId,
        code_hash: &str,
        code_expires_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Stores a pushed authorization request's parameters (sealed, base64url) under `id`, with
    /// the keyed hash of the address that pushed it (for public clients).
    async fn insert_pushed_request(
        &self,
        id: &str,
        client_id: &ClientId,
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
        client_id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<Option<String>>;
    /// Deletes login requests that expired before `cutoff`, and those that
    /// never got as far as a code (pending, approved, denied, failed) already when they expired
    /// before `unfinished_cutoff`; returns how many, and how many of them were never decided.
    async fn delete_login_requests_expired_before(
        &self,
        cutoff: UnixTime,
        unfinished_cutoff: UnixTime,
    ) -> StoreResult<PurgedLoginRequests>;
    /// How many pending, unexpired login requests a browser or a client address holds at `now`.
    async fn count_pending_login_requests(
        &self,
        key: PendingKey<'_>,
        now: UnixTime,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait GrantStore {
    async fn find_grant(&self, id: &GrantId) -> StoreResult<Option<Grant>>;
    async fn find_grant_by_refresh_hash(&self, refresh_hash: &str) -> StoreResult<Option<Grant>>;
    /// The grant whose refresh token this was before a rotation replaced it.
    async fn find_grant_by_retired_refresh_hash(
        &self,
        refresh_hash: &str,
    ) -> StoreResult<Option<Grant>>;
    /// Forgets retired refresh tokens retired before `cutoff`; returns how many.
    async fn delete_retired_refresh_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    /// Revokes a grant; true if this call revoked it (it was live).
    async fn revoke_grant(&self, id: &GrantId, now: UnixTime) -> StoreResult<bool>;
    /// Remembers a revoked access token that has no grant to revoke (client credentials)
    /// until it expires; revoking one twice is not an error.
    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()>;
    /// Whether the access token with this `jti` was revoked.
    async fn access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// Forgets revoked access tokens that expired before `cutoff`; returns how many.
    async fn delete_revoked_access_tokens_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

/// The provider's transactions: `OidcTransaction`'s writes (`TransactionStore<OidcWrites>`).
pub enum OidcWrites {}

impl TxScope for OidcWrites {
    type Tx<'t> = dyn OidcTransaction + 't;
}

/// The writes the provider's use cases make together, in one transaction (see
/// `kernel::store::transact`), with the consent and outbox writes beneath them. Each reads and
/// writes only what its name says; the rules that combine them live in core.
#[async_trait]
pub trait OidcTransaction:
    ConsentWrites + OutboxWrites + AccountWrites + crate::signing::store::SigningWrites + Send
{
    /// Revokes every live grant of an account, with every client; returns them with their
    /// clients.
    async fn revoke_account_grants(
        &mut self,
        account_id: &AccountId,
        now: UnixTime,
    ) -> StoreResult<Vec<(GrantId, ClientId)>>;
    /// Revokes every live grant of an account with a client; returns their ids.
    async fn revoke_live_grants(
        &mut self,
        account_id: &AccountId,
        client_id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<Vec<GrantId>>;
    /// Revokes a grant; true if it was live.
    async fn revoke_grant(&mut self, id: &GrantId, now: UnixTime) -> StoreResult<bool>;
    /// Marks a client deleted (it is not found any more); false if there was no live one.
    async fn delete_client(&mut self, id: &ClientId, now: UnixTime) -> StoreResult<bool>;
    /// Revokes every live grant of a client; returns how many.
    async fn revoke_client_grants(
        &mut self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> StoreResult<u64>;
    /// Applies the decision if the request is still pending and unexpired at `now`; false if
    /// it was not (decided already, or expired).
    async fn decide_login_request(
        &mut self,
        id: &LoginRequestId,
        decision: &Decision,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Completed → redeemed for the code with this hash, naming the grant it produces; else
    /// what became of the code.
    async fn redeem_code(&mut self, code_hash: &str, grant_id: &GrantId)
    -> StoreResult<Redemption>;
    async fn insert_grant(&mut self, grant: &Grant) -> StoreResult<()>;
    /// Forgets who approved the login request with this code (an anonymous form filling, once
    /// its code is redeemed): its account and device, and what could match it with the same
    /// citizen's other logins (browser, origin, expected subject, context, methods), are
    /// cleared.
    async fn forget_login_account(&mut self, code_hash: &str) -> StoreResult<()>;
    /// Replaces a live grant's refresh token if `old_hash` is still the current one; false if
    /// it is not (another request rotated it first) or the grant was revoked.
    async fn replace_refresh_token(
        &mut self,
        grant_id: &GrantId,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Remembers a replaced refresh token, so that its reuse is recognised.
    async fn retire_refresh_token(
        &mut self,
        refresh_hash: &str,
        grant_id: &GrantId,
        now: UnixTime,
    ) -> StoreResult<()>;
}
