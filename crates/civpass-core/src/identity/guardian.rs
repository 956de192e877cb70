//! Minors. As iAM Smart does, a citizen aged 11 to 17 registers only with the approval of a
//! parent or guardian: one the population registry names for them (`RegistryRecord::guardians`),
//! who holds an adult account at the plus tier and approves in their own app with their device
//! key. Until then the minor's account exists but waits: it cannot log in. Under 11 is refused.
//! Ages are counted on the Hong Kong calendar date (docs/REGISTRATION.md, "Minors").

use time::{Date, OffsetDateTime, UtcOffset};

use crate::identity::IdentityService;
use crate::identity::hkid::HkId;
use crate::identity::model::{Account, DeviceKind, GuardianLink, Tier};
use crate::identity::registration::{
    EnrolError, Enrolled, VerifiedIdentity, new_device, parse_date_of_birth,
};
use crate::kernel::store::StoreError;
use crate::kernel::{AccountId, Internal, UnixTime};

/// The youngest age at which a citizen may register.
pub const MINIMUM_AGE: i32 = 11;
/// From this age a citizen registers on their own.
pub const ADULT_AGE: i32 = 18;
/// How long a guardian has to approve, in seconds (a week: they may be away from their phone).
pub const GUARDIAN_APPROVAL_TTL: i64 = 7 * 86_400;

const HONG_KONG: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// Completed years of age on the Hong Kong date at `now` (a birthday on 29 February counts on
/// 1 March in other years, as the calendar comparison gives).
pub fn age_on(date_of_birth: Date, now: UnixTime) -> i32 {
    let Ok(utc) = OffsetDateTime::from_unix_timestamp(now) else { return 0 };
    let today = utc.to_offset(HONG_KONG).date();
    let mut age = today.year() - date_of_birth.year();
    if (today.month() as u8, today.day()) < (date_of_birth.month() as u8, date_of_birth.day()) {
        age -= 1;
    }
    age
}

/// `age_on` for a date of birth as stored or typed (`YYYY-MM-DD`); `None` if it is not one.
pub(crate) fn age_of(date_of_birth: &str, now: UnixTime) -> Option<i32> {
    parse_date_of_birth(date_of_birth).ok().map(|dob| age_on(dob, now))
}

impl IdentityService {
    /// For a registration of someone born on `date_of_birth`, whom the registry gives
    /// `guardians`: `None` for an adult; for a minor, the account of the guardian named by
    /// `guardian_id_number`, who must be one of them and hold an adult, active, plus account.
    ///
    /// Errors: `TooYoung` (under 11), `GuardianRequired`, `InvalidGuardian` (malformed),
    /// `GuardianNotNamed` (not a guardian the registry names), `GuardianNotEligible` (no adult
    /// active plus account).
    pub(crate) async fn guardian_for(
        &self,
        date_of_birth: Date,
        guardians: &[HkId],
        guardian_id_number: Option<&str>,
    ) -> Result<Option<AccountId>, EnrolError> {
        let age = age_on(date_of_birth, self.ctx.now());
        if age < MINIMUM_AGE {
            return Err(EnrolError::TooYoung);
        }
        if age >= ADULT_AGE {
            return Ok(None);
        }
        let named = guardian_id_number
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .ok_or(EnrolError::GuardianRequired)?;
        let named = HkId::parse(named).map_err(|_| EnrolError::InvalidGuardian)?;
        if !guardians.contains(&named) {
            return Err(EnrolError::GuardianNotNamed);
        }
        let account = self
            .store
            .find_account_by_hkid_hash(&self.hkid_hash(&named))
            .await
            .map_err(Internal::from)?
            .ok_or(EnrolError::GuardianNotEligible)?;
        let identity = self.open_identity(&account).await?;
        let adult = age_of(&identity.date_of_birth, self.ctx.now()).is_some_and(|a| a >= ADULT_AGE);
        let eligible = adult
            && account.tier == Tier::Plus
            && account.suspended_at.is_none()
            && account.awaiting_guardian_since.is_none();
        if !eligible {
            return Err(EnrolError::GuardianNotEligible);
        }
        Ok(Some(account.id))
    }

    /// Whether the account may not log in yet: a minor's, waiting for their guardian, and still
    /// a minor (one who came of age meanwhile needs no approval any more).
    pub(crate) async fn awaits_guardian(&self, account: &Account) -> Result<bool, Internal> {
        if account.awaiting_guardian_since.is_none() {
            return Ok(false);
        }
        let identity = self.open_identity(account).await?;
        Ok(age_of(&identity.date_of_birth, self.ctx.now()).is_none_or(|a| a < ADULT_AGE))
    }

    /// A minor whose account still waits registers again (their guardian did not approve in
    /// time, or another guardian is named): the account moves to the new device, the old one
    /// revoked (it never logged in anywhere), and a new link is opened for the guardian now
    /// named. Nothing was released for such an account, so no stronger check is asked than the
    /// registration's own.
    pub(crate) async fn register_again_while_waiting(
        &self,
        account: &Account,
        verified: &VerifiedIdentity,
        kind: DeviceKind,
        public_key: String,
        credential_id: Option<String>,
    ) -> Result<Enrolled, EnrolError> {
        if account.suspended_at.is_some() {
            return Err(EnrolError::AccountSuspended);
        }
        if let Some(guardian) = &verified.guardian {
            self.open_guardian_link(&account.id, guardian).await?;
        }
        let now = self.ctx.now();
        let device = new_device(&account.id, kind, public_key, credential_id, now);
        let evidence =
            self.evidence_record(account.id.as_str(), &verified.evidence, "registration").await?;
        match self.store.recover_account(&device, &evidence, now).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Err(EnrolError::PasskeyRejected),
            Err(e) => return Err(Internal::from(e).into()),
        }
        tracing::info!(account_id = %account.id, device_id = %device.id, "a waiting minor's account registered again");
        Ok(Enrolled {
            account_id: account.id.to_string(),
            device_id: device.id.to_string(),
            tier: account.tier,
            transferred: false,
            awaiting_guardian: verified.guardian.is_some(),
            moves_at: None,
        })
    }

    /// The link a minor's registration waits on, stored before the account.
    pub(crate) async fn open_guardian_link(
        &self,
        minor: &AccountId,
        guardian: &AccountId,
    ) -> Result<GuardianLink, Internal> {
        let now = self.ctx.now();
        let link = GuardianLink {
            id: format!("gl_{}", civpass_crypto::secret::random_token(12)),
            minor_account_id: minor.clone(),
            guardian_account_id: guardian.clone(),
            requested_at: now,
            expires_at: now + GUARDIAN_APPROVAL_TTL,
            approved_at: None,
        };
        self.store.insert_guardian_link(&link).await?;
        Ok(link)
    }

    pub(crate) async fn guardian_link(&self, id: &str) -> Result<Option<GuardianLink>, Internal> {
        Ok(self.store.find_guardian_link(id).await?)
    }

    pub(crate) async fn guardian_links_awaiting(
        &self,
        guardian: &AccountId,
    ) -> Result<Vec<GuardianLink>, Internal> {
        Ok(self.store.guardian_links_awaiting(guardian, self.ctx.now()).await?)
    }

    pub(crate) async fn guardian_links_of(
        &self,
        account: &AccountId,
    ) -> Result<Vec<GuardianLink>, Internal> {
        Ok(self.store.guardian_links_of(account).await?)
    }

    /// Whether a guardian may still approve: the registry still names them for the minor (it
    /// is asked again, so a family link removed since counts), and their account is still an
    /// adult, active plus one.
    pub(crate) async fn guardian_still_eligible(
        &self,
        link: &GuardianLink,
    ) -> Result<bool, EnrolError> {
        let minor = self.store.get_account(&link.minor_account_id).await.map_err(Internal::from)?;
        let guardian =
            self.store.get_account(&link.guardian_account_id).await.map_err(Internal::from)?;
        let minor_identity = self.open_identity(&minor).await?;
        let guardian_identity = self.open_identity(&guardian).await?;
        let minor_hkid =
            HkId::parse(&minor_identity.hkid).map_err(|_| EnrolError::IdentityMismatch)?;
        let guardian_hkid =
            HkId::parse(&guardian_identity.hkid).map_err(|_| EnrolError::IdentityMismatch)?;
        let record = self
            .registry
            .find_person(&minor_hkid)
            .await
            .map_err(EnrolError::RegistryUnavailable)?;
        let Some(record) = record else { return Ok(false) };
        match self
            .guardian_for(record.date_of_birth, &record.guardians, Some(guardian_hkid.as_str()))
            .await
        {
            Ok(Some(id)) => Ok(id == link.guardian_account_id),
            // Came of age meanwhile: no approval is needed, but this one may still stand.
            Ok(None) => Ok(true),
            Err(EnrolError::Internal(e)) => Err(EnrolError::Internal(e)),
            Err(EnrolError::RegistryUnavailable(e)) => Err(EnrolError::RegistryUnavailable(e)),
            Err(_) => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn ages_count_completed_years_on_the_hong_kong_date() {
        let at = |dt: time::OffsetDateTime| dt.unix_timestamp();
        // 2026-03-14 23:30 in Hong Kong is 15:30 UTC: the birthday has come there.
        let now = at(datetime!(2026-03-14 15:30 UTC));
        assert_eq!(age_on(date!(2015 - 03 - 14), now), 11);
        assert_eq!(age_on(date!(2015 - 03 - 15), now), 10);
        // 15:59 UTC on the 13th is still the 13th in Hong Kong... and 16:00 is the 14th.
        assert_eq!(age_on(date!(2008 - 03 - 14), at(datetime!(2026-03-13 15:59 UTC))), 17);
        assert_eq!(age_on(date!(2008 - 03 - 14), at(datetime!(2026-03-13 16:00 UTC))), 18);
        assert_eq!(age_on(date!(2008 - 02 - 29), at(datetime!(2026-02-28 12:00 UTC))), 17);
        assert_eq!(age_on(date!(2008 - 02 - 29), at(datetime!(2026-03-01 12:00 UTC))), 18);
    }
}
