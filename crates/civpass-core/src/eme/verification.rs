//! Verifying the citizen's contact data: an e-mail address by a one-time link sent to it, a
//! mobile number by a one-time code sent by SMS. A verified field is released with
//! `email_verified` / `phone_number_verified` true (OIDC Core section 5.1) until it changes.

use async_trait::async_trait;
use civpass_crypto::secret::ct_eq;
use serde::{Deserialize, Serialize};

use crate::eme::model::Source;
use crate::eme::{Edit, EmeService};
use crate::kernel::ceremony::CeremonyPurpose;
use crate::kernel::{AccountId, Internal, UnixTime};

/// An e-mail link works for a day; an SMS code for ten minutes, and for one guess.
pub const EMAIL_LINK_TTL: i64 = 24 * 3600;
pub const SMS_CODE_TTL: i64 = 600;
/// What every SMS verification id starts with.
const SMS_ID_PREFIX: &str = "sms_";
/// Verification messages an account may have sent per day, of each kind: a few retries, not a
/// way to flood an address or run up an SMS bill.
pub const MESSAGES_PER_DAY: i64 = 5;
/// Verification messages of one kind to one address or number a day, all accounts together.
pub const MESSAGES_PER_DESTINATION_PER_DAY: i64 = 2 * MESSAGES_PER_DAY;

/// A message that could not be handed over for delivery.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
pub struct MessagingError {
    pub what: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Sends e-mail: an SMTP relay, or the sandbox's message files.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands `text` (plain text, UTF-8) to `to` with `subject` over for delivery.
    async fn send_email(&self, to: &str, subject: &str, text: &str) -> Result<(), MessagingError>;
}

/// Sends SMS: an operator's SMS gateway, or the sandbox's message files.
#[async_trait]
pub trait SmsGateway: Send + Sync {
    /// Hands `text` to the E.164 number `to` over for delivery.
    async fn send_sms(&self, to: &str, text: &str) -> Result<(), MessagingError>;
}

/// Why a verification did not start or finish; the vault is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("add the e-mail address or mobile number to the vault first")]
    NothingToVerify,
    #[error("it is already verified")]
    AlreadyVerified,
    #[error("this platform cannot send such messages")]
    Unavailable,
    #[error("too many verification messages today; try again tomorrow")]
    TooMany,
    #[error("the message could not be sent; try again later")]
    NotSent(#[source] MessagingError),
    #[error("the link or code is unknown, used or expired; ask for a new one")]
    Expired,
    #[error("the code is wrong; ask for a new one")]
    WrongCode,
    #[error("the value changed since the message was sent; verify the new one")]
    Changed,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// What a verification's ceremony keeps, sealed.
#[derive(Serialize, Deserialize)]
struct Pending {
    account_id: String,
    /// The value being verified, as it was when the message was sent.
    value: String,
    /// For an SMS, the code sent.
    #[serde(default)]
    code: Option<String>,
}

/// An SMS verification in progress: the app sends `id` back with the code.
#[derive(Debug, Clone)]
pub struct PhoneVerification {
    pub id: String,
    pub expires_at: UnixTime,
}

impl EmeService {
    /// The current value of a contact field, if it is not verified yet.
    async fn unverified(&self, account_id: &AccountId, name: &str) -> Result<String, VerifyError> {
        let (stored, _) = self.stored(account_id).await?;
        let entry = stored.fields.get(name).ok_or(VerifyError::NothingToVerify)?;
        if matches!(entry.source, Source::Verified { .. }) {
            return Err(VerifyError::AlreadyVerified);
        }
        entry.value.as_str().map(str::to_owned).ok_or(VerifyError::NothingToVerify)
    }

    /// Sends a one-time link to the vault's e-mail address (`{issuer}/app/verify-email#TOKEN`:
    /// the token after `#` never reaches a server's log or a referrer);
    /// returns when it expires.
    ///
    /// Errors: `NothingToVerify`, `AlreadyVerified`, `Unavailable` (no mailer), `NotSent`.
    pub async fn start_email_verification(
        &self,
        account_id: &AccountId,
    ) -> Result<UnixTime, VerifyError> {
        let mailer = self.mailer.clone().ok_or(VerifyError::Unavailable)?;
        let email = self.unverified(account_id, "email").await?;
        self.within_quota(account_id, "email-verification", &email).await?;
        let pending =
            Pending { account_id: account_id.to_string(), value: email.clone(), code: None };
        let token = self
            .ceremonies
            .open_for(&CeremonyPurpose::EmailVerification, &pending, EMAIL_LINK_TTL)
            .await?;
        let link = format!("{}/app/verify-email#{token}", self.ctx.settings.issuer);
        let operator = &self.ctx.settings.issuer;
        let text = format!(
            "To confirm that this is your e-mail address for civpass ({operator}), open this link \
             within a day:\n\n{link}\n\nIf you did not ask for this, ignore this message.\n\n\
             請在一天內打開以上連結，確認這是你在 civpass 的電郵地址。如你沒有提出要求，請忽略本郵件。\n"
        );
        mailer
            .send_email(&email, "Confirm your e-mail address 確認你的電郵地址", &text)
            .await
            .map_err(VerifyError::NotSent)?;
        Ok(self.ctx.now() + EMAIL_LINK_TTL)
    }

    /// The link's token, answered once, by the app of the account that asked for it (so that
    /// someone who put a victim's address in their own vault cannot have the victim confirm
    /// it for them): the address is marked verified if the vault still holds it.
    ///
    /// Errors: `Expired` (unknown, used, expired, or another account's), `Changed`.
    pub async fn confirm_email(
        &self,
        account_id: &AccountId,
        token: &str,
    ) -> Result<(), VerifyError> {
        let pending: Pending = self
            .ceremonies
            .take(token, &CeremonyPurpose::EmailVerification)
            .await?
            .ok_or(VerifyError::Expired)?;
        if pending.account_id != account_id.as_str() {
            tracing::warn!("an e-mail verification link was opened by another account's app");
            return Err(VerifyError::Expired);
        }
        let account_id = AccountId::from(pending.account_id);
        if !self.mark_verified(&account_id, "email", &pending.value, "email_link").await? {
            return Err(VerifyError::Changed);
        }
        Ok(())
    }

    /// Sends a six-digit code by SMS to the vault's mobile number.
    ///
    /// Errors: `NothingToVerify`, `AlreadyVerified`, `Unavailable` (no gateway), `NotSent`.
    pub async fn start_phone_verification(
        &self,
        account_id: &AccountId,
    ) -> Result<PhoneVerification, VerifyError> {
        let gateway = self.sms.clone().ok_or(VerifyError::Unavailable)?;
        let phone = self.unverified(account_id, "phone_number").await?;
        self.within_quota(account_id, "sms-verification", &phone).await?;
        let code = six_digits();
        let pending = Pending {
            account_id: account_id.to_string(),
            value: phone.clone(),
            code: Some(code.clone()),
        };
        let purpose = CeremonyPurpose::PhoneVerification { account: account_id.clone() };
        let id = self.ceremonies.open_for(&purpose, &pending, SMS_CODE_TTL).await?;
        let text = format!(
            "civpass: your code is {code}. It confirms this number and expires in 10 minutes. \
             Never tell anyone. 你的 civpass 確認碼：{code}，切勿告訴任何人。"
        );
        gateway.send_sms(&phone, &text).await.map_err(VerifyError::NotSent)?;
        // A prefix, so that the id never starts with `-` (which a command line would take
        // for an option) and says what it is.
        Ok(PhoneVerification {
            id: format!("{SMS_ID_PREFIX}{id}"),
            expires_at: self.ctx.now() + SMS_CODE_TTL,
        })
    }

    /// The code the citizen typed, for the verification `id` of their own account; one guess
    /// each (with six digits, a wrong guess ends it), so a code cannot be found by trying.
    ///
    /// Errors: `Expired`, `WrongCode`, `Changed`.
    pub async fn confirm_phone(
        &self,
        account_id: &AccountId,
        id: &str,
        code: &str,
    ) -> Result<(), VerifyError> {
        let purpose = CeremonyPurpose::PhoneVerification { account: account_id.clone() };
        let id = id.strip_prefix(SMS_ID_PREFIX).ok_or(VerifyError::Expired)?;
        let pending: Pending =
            self.ceremonies.take(id, &purpose).await?.ok_or(VerifyError::Expired)?;
        let sent = pending.code.unwrap_or_default();
        if sent.is_empty() || !ct_eq(code.trim(), &sent) {
            return Err(VerifyError::WrongCode);
        }
        if !self.mark_verified(account_id, "phone_number", &pending.value, "sms_code").await? {
            return Err(VerifyError::Changed);
        }
        Ok(())
    }

    /// At most `MESSAGES_PER_DAY` of `what` per account, and `MESSAGES_PER_DESTINATION_PER_DAY`
    /// to any one destination whatever accounts ask (so that many accounts cannot flood one
    /// address or number either). The account's quota is checked first and a destination is
    /// counted only for a message its account may send: an account over its quota cannot use
    /// up other people's; and since one account fills at most half a destination's quota, it
    /// cannot keep that destination's holder from verifying it.
    async fn within_quota(
        &self,
        account_id: &AccountId,
        what: &str,
        destination: &str,
    ) -> Result<(), VerifyError> {
        let by_account = self.identity.count_attempt_of(what, account_id.as_str(), 86_400).await?;
        if by_account > MESSAGES_PER_DAY {
            tracing::warn!(what, "verification messages over the account's daily limit");
            return Err(VerifyError::TooMany);
        }
        let to_destination = self
            .identity
            .count_attempt_of(&format!("{what}-to"), &destination.to_lowercase(), 86_400)
            .await?;
        if to_destination > MESSAGES_PER_DESTINATION_PER_DAY {
            tracing::warn!(what, "verification messages over the destination's daily limit");
            return Err(VerifyError::TooMany);
        }
        Ok(())
    }

    /// Marks a stored field verified, if it still holds `value` (a check may finish after the
    /// citizen changed it again).
    async fn mark_verified(
        &self,
        account_id: &AccountId,
        name: &str,
        value: &str,
        method: &str,
    ) -> Result<bool, Internal> {
        let busy = Internal::new("the vault kept changing while a check was recorded");
        self.update(account_id, busy, |stored| {
            let Some(entry) =
                stored.fields.get_mut(name).filter(|e| e.value.as_str() == Some(value))
            else {
                return Ok(Edit::Keep(false));
            };
            entry.source = Source::Verified { method: method.to_owned() };
            Ok(Edit::Write(true))
        })
        .await
    }
}

/// Six decimal digits from the CSPRNG, uniform, leading zeros kept.
fn six_digits() -> String {
    format!("{:06}", civpass_crypto::secret::random_below(1_000_000))
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: Vec<String> = (0..20).map(|_| super::six_digits()).collect();
        assert!(codes.iter().all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert!(unique.len() > 15);
    }
}
