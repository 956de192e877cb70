//! Remote upgrade to plus, with stronger evidence than remote registration asks for: the
//! citizen, in the app, runs the identity check again (document, liveness and face match) and
//! the vendor must vouch for it at the `strong` level (a read of the identity card's chip, or a
//! document check of equal strength, with a certified liveness test, ISO/IEC 30107-3), where a
//! basic registration takes any pass. The evidence that raised the tier is recorded with it.

use crate::account::{AccountService, SessionError};
use crate::identity::evidence::EvidenceLevel;
use crate::identity::hkid::HkId;
use crate::identity::model::Tier;
use crate::identity::registration::{EnrolError, EvidenceSubmission};
use crate::kernel::Internal;
use crate::kernel::store::transact;

/// Why a remote upgrade did not happen; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The identity check was missing, unknown, failed or could not be verified.
    #[error(transparent)]
    Evidence(#[from] EnrolError),
    #[error(
        "the identity check passed at the basic level; an upgrade to plus needs a strong check (a chip read with a certified liveness test), or a registration point"
    )]
    EvidenceTooWeak,
    #[error("this account is plus already")]
    AlreadyPlus,
    #[error("this account is suspended")]
    Suspended,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl AccountService {
    /// Raises the session's account to plus on a strong identity check of its own identity.
    ///
    /// Errors: `Session(..)`, `Evidence(..)` (as remote registration's: `EvidenceRequired`,
    /// `EvidenceUnknown`, `EvidenceFailed`, `EvidenceUnavailable`, `TooManyAttempts`),
    /// `EvidenceTooWeak`, `AlreadyPlus`, `Suspended`.
    pub async fn upgrade_remotely(
        &self,
        token: &str,
        submitted: Option<EvidenceSubmission<'_>>,
    ) -> Result<Tier, UpgradeError> {
        let session = self.app_session(token).await?;
        let account = self.identity.account(&session.account_id).await.map_err(Internal::from)?;
        if account.suspended_at.is_some() {
            return Err(UpgradeError::Suspended);
        }
        if account.tier == Tier::Plus {
            return Err(UpgradeError::AlreadyPlus);
        }
        let submitted = submitted
            .filter(|e| !e.session.trim().is_empty() && !e.reference.is_empty())
            .ok_or(EnrolError::EvidenceRequired)?;
        let identity = self.identity.open_identity(&account).await?;
        let hkid = HkId::parse(&identity.hkid).map_err(|e| Internal::caused("a stored HKID", e))?;
        let evidence = self
            .identity
            .check_evidence(&hkid, &identity.name_en, &identity.date_of_birth, &submitted)
            .await?;
        if evidence.level < EvidenceLevel::Strong {
            return Err(UpgradeError::EvidenceTooWeak);
        }
        let record =
            self.identity.evidence_record(account.id.as_str(), &evidence, "upgrade").await?;
        let id = account.id.clone();
        let raised = transact(self.store.as_ref(), move |tx| {
            Box::pin(async move {
                if !tx.change_tier(&id, Tier::Basic, Tier::Plus).await? {
                    return Ok(false);
                }
                tx.insert_evidence(&record).await?;
                Ok(true)
            })
        })
        .await
        .map_err(Internal::from)?;
        if !raised {
            return Err(UpgradeError::AlreadyPlus);
        }
        tracing::info!(account_id = %account.id, method = %evidence.method, "upgraded remotely to the plus tier");
        self.signing.issue_if_missing(&account.id).await;
        Ok(Tier::Plus)
    }
}
