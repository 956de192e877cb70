//! The counter slice's storage ports: staff and their assignments, registration points, the
//! codes apps show, the acts officers perform; and the writes a confirmation makes together.

use async_trait::async_trait;

use crate::counter::hours::Hours;

use crate::counter::model::{
    ActOutcome, CounterAct, PendingPasskey, RegistrationCode, RegistrationPoint, Staff,
    StaffCredentials, StaffEnrolment, StaffSession,
};
use crate::identity::evidence::EvidenceRecord;
use crate::identity::model::{Account, Device};
use crate::identity::store::AccountWrites;
use crate::kernel::UnixTime;
use crate::kernel::ids::AccountId;
use crate::kernel::store::{StoreResult, TxScope};

#[async_trait]
pub trait StaffStore {
    /// `Conflict` if the id is taken.
    async fn insert_staff(&self, staff: &Staff) -> StoreResult<()>;
    async fn find_staff(&self, id: &str) -> StoreResult<Option<Staff>>;
    /// Everyone, oldest first.
    async fn list_staff(&self) -> StoreResult<Vec<Staff>>;
    /// Disables a member of staff; false if there is none, or they were disabled already.
    async fn disable_staff(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Lets `staff_id` act at `point_id`; false if they already could.
    async fn assign_staff(
        &self,
        staff_id: &str,
        point_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// The points a member of staff is assigned to.
    async fn assignments(&self, staff_id: &str) -> StoreResult<Vec<String>>;
}

/// How members of staff sign in to the console: the one-time enrolment link, the passkey, the
/// administrators' TOTP secret, and console sessions.
#[async_trait]
pub trait StaffSignInStore {
    /// Opens an enrolment for `staff_id`, replacing any earlier link and revoking the passkey and
    /// TOTP secret they had (a new link is for a lost or stolen one); false if no such staff.
    async fn set_staff_enrolment(
        &self,
        staff_id: &str,
        enrolment_hash: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool>;
    /// The member of staff whose enrolment link has this hash, if it is open at `now`.
    async fn staff_by_enrolment(
        &self,
        enrolment_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Staff>>;
    /// Stores the passkey (and, for an administrator, the sealed TOTP secret) made through the
    /// enrolment `enrolment_hash`, and closes it, if it is still open at `now`: a link is used
    /// once. False if it was not open; `Conflict` if the credential id is registered already.
    async fn enrol_staff_passkey(
        &self,
        enrolment: &StaffEnrolment<'_>,
        now: UnixTime,
    ) -> StoreResult<bool>;
    async fn staff_credentials(&self, staff_id: &str) -> StoreResult<Option<StaffCredentials>>;
    /// Replaces the passkey record if it is still `old` (its signature counter moved on).
    async fn update_staff_passkey(&self, staff_id: &str, old: &str, new: &str)
    -> StoreResult<bool>;
    /// Records that the TOTP time step `step` was used, if it is later than the last one used:
    /// RFC 6238 section 5.2, an accepted code is not accepted again.
    async fn use_totp_step(&self, staff_id: &str, step: i64) -> StoreResult<bool>;
    async fn insert_staff_session(&self, session: &StaffSession) -> StoreResult<()>;
    async fn find_staff_session(&self, token_hash: &str) -> StoreResult<Option<StaffSession>>;
    async fn delete_staff_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Ends every console session of a member of staff; returns how many.
    async fn delete_staff_sessions_of(&self, staff_id: &str) -> StoreResult<u64>;
    /// Deletes sessions that expired before `cutoff`; returns how many.
    async fn delete_staff_sessions_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
pub trait PointStore {
    /// `Conflict` if the id is taken.
    async fn insert_point(&self, point: &RegistrationPoint) -> StoreResult<()>;
    async fn find_point(&self, id: &str) -> StoreResult<Option<RegistrationPoint>>;
    /// Every point, oldest first.
    async fn list_points(&self) -> StoreResult<Vec<RegistrationPoint>>;
    /// Replaces a point's hours (or schedule); false if there is no such point.
    async fn set_point_hours(&self, id: &str, hours: &Hours) -> StoreResult<bool>;
}

#[async_trait]
pub trait RegistrationCodeStore {
    async fn insert_registration_code(&self, code: &RegistrationCode) -> StoreResult<()>;
    /// Uses the code with this hash if it is unused and unexpired at `now`: each code is taken
    /// at most once, even by two officers at once.
    async fn take_registration_code(
        &self,
        code_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<RegistrationCode>>;
    /// Deletes codes that expired before `cutoff`; returns how many.
    async fn delete_registration_codes_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
pub trait PendingPasskeyStore {
    /// `Conflict` if the credential id is taken.
    async fn insert_pending_passkey(&self, passkey: &PendingPasskey) -> StoreResult<()>;
    /// The passkey whose token has this hash, if it has not expired at `now`.
    async fn pending_passkey(
        &self,
        token_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<PendingPasskey>>;
    /// Replaces the record if it is still `old`; false if it changed meanwhile.
    async fn update_pending_passkey(
        &self,
        credential_id: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool>;
    async fn delete_pending_passkey(&self, credential_id: &str) -> StoreResult<()>;
    /// Deletes those that expired before `cutoff`; returns how many.
    async fn delete_pending_passkeys_before(&self, cutoff: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
pub trait CounterActStore {
    async fn insert_counter_act(&self, act: &CounterAct) -> StoreResult<()>;
    async fn find_counter_act(&self, id: &str) -> StoreResult<Option<CounterAct>>;
    /// Acts awaiting the confirmation of the device key `public_key` at `now`, oldest first.
    async fn acts_awaiting(&self, public_key: &str, now: UnixTime) -> StoreResult<Vec<CounterAct>>;
    /// Every act, oldest first, from `since` (for the figures and the audit).
    async fn list_counter_acts(&self, since: UnixTime) -> StoreResult<Vec<CounterAct>>;
    /// How many acts of each kind came to each outcome since `since`: `(kind, outcome, n)`.
    async fn count_counter_acts_since(
        &self,
        since: UnixTime,
    ) -> StoreResult<Vec<(String, String, u64)>>;
}

/// The writes a confirmation makes in one transaction: the act decided, and what it brings
/// about (a new account with its first device and evidence, or a tier raised with its
/// evidence).
#[async_trait]
pub trait CounterTransaction: AccountWrites + crate::signing::store::SigningWrites + Send {
    /// Marks an act awaiting confirmation as `outcome`, if it still awaits and has not
    /// expired at `now`; false if it did not.
    async fn decide_counter_act(
        &mut self,
        id: &str,
        outcome: ActOutcome,
        account_id: Option<&AccountId>,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// `Conflict` if the identity (its hash) or the device's key is registered already.
    async fn insert_account(
        &mut self,
        account: &Account,
        device: &Device,
        evidence: &EvidenceRecord,
    ) -> StoreResult<()>;
}

/// The counter's transactions: `CounterTransaction`'s writes.
pub enum CounterWrites {}

impl TxScope for CounterWrites {
    type Tx<'t> = dyn CounterTransaction + 't;
}
