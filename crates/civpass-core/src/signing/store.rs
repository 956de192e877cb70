//! The signing slice's storage port: the certificate authorities and citizens' signing
//! credentials, all sealed.

use async_trait::async_trait;

use crate::identity::model::Account;
use crate::kernel::store::StoreResult;
use crate::kernel::{AccountId, UnixTime};

/// A certificate authority as stored: its certificate (DER) and its PKCS#8 key sealed with the
/// platform key (`None` once the root's key went to cold storage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAuthority {
    /// `root` or `issuing`.
    pub kind: String,
    pub certificate: Vec<u8>,
    pub sealed_key: Option<Vec<u8>>,
    pub created_at: UnixTime,
}

/// A citizen's signing certificate and key, each sealed with the account's data key and the
/// serial number as associated data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCredential {
    /// The certificate's serial number, hexadecimal.
    pub serial: String,
    pub account_id: AccountId,
    pub sealed_certificate: Vec<u8>,
    pub sealed_key: Vec<u8>,
    pub not_after: UnixTime,
    pub created_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    pub revocation_reason: Option<String>,
}

/// A service's request to have a citizen sign documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningRequest {
    pub id: String,
    pub client_id: crate::kernel::ClientId,
    pub client_name: String,
    /// The client's sector, for its pairwise subjects (`Secrets::pairwise_subject`).
    pub sector: String,
    /// `[{"name", "digest"}]` as JSON (`civpass_api::DocumentDigest`, the digests base64),
    /// sealed with the platform key and the request id as associated data: a document's name
    /// can name a person.
    pub sealed_documents: Vec<u8>,
    /// The `sub` the service knows its expected signer by, if it named one.
    pub expected_sub: Option<String>,
    pub match_code: String,
    /// `pending`, `signed`, `denied` or `refused`.
    pub status: String,
    pub account_id: Option<AccountId>,
    /// The signatures (JSON list of base64 DER), sealed with the signer's data key and the
    /// request id as associated data.
    pub sealed_result: Option<Vec<u8>>,
    pub failure: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub decided_at: Option<UnixTime>,
}

#[async_trait]
pub trait SigningStore: Send + Sync {
    async fn insert_signing_request(&self, request: &SigningRequest) -> StoreResult<()>;
    async fn find_signing_request(&self, id: &str) -> StoreResult<Option<SigningRequest>>;
    /// Deletes requests that expired before `cutoff`; returns how many.
    async fn delete_signing_requests_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
    /// Records the outcome if the request is still pending and unexpired at `decided_at`;
    /// false if it was decided or expired (a second answer changes nothing).
    async fn finish_signing_request(&self, outcome: &SigningRequest) -> StoreResult<bool>;
    async fn find_authority(&self, kind: &str) -> StoreResult<Option<StoredAuthority>>;
    /// Stores the root and the issuing CA together; false if the platform has a root already.
    async fn insert_authorities(
        &self,
        root: &StoredAuthority,
        issuing: &StoredAuthority,
    ) -> StoreResult<bool>;
    /// Forgets an authority's key (its certificate stays); false if there was none.
    async fn remove_authority_key(&self, kind: &str) -> StoreResult<bool>;
    async fn insert_credential(&self, credential: &StoredCredential) -> StoreResult<()>;
    /// Revokes every live credential of the account at `now` for `reason`; returns how many.
    async fn revoke_credentials_of(
        &self,
        account_id: &AccountId,
        now: UnixTime,
        reason: &str,
    ) -> StoreResult<u64>;
    /// An account's credentials, newest first (those of one second in any order).
    async fn credentials_of(&self, account_id: &AccountId) -> StoreResult<Vec<StoredCredential>>;
    /// Up to `limit` plus-tier accounts after `after` (by id), for issuing to those that
    /// exist when the PKI is made.
    async fn plus_accounts(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> StoreResult<Vec<Account>>;
}

/// What a transaction of another slice writes here: a citizen's credentials end with the
/// change that ends them (a suspension, a downgrade, a lost device), or neither happens.
#[async_trait]
pub trait SigningWrites: Send {
    /// Revokes every live credential of the account at `now` for `reason`; returns how many.
    async fn revoke_signing_credentials(
        &mut self,
        account_id: &AccountId,
        now: UnixTime,
        reason: &str,
    ) -> StoreResult<u64>;
}
