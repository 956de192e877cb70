//! `Ctx`: what every use case reads besides its own ports: the time, new ids, the platform's
//! secrets and the operator's settings.

use std::sync::Arc;

use crate::kernel::{Clock, Secrets, Settings, UnixTime};

/// The shared context of every feature service; cheap to clone (three `Arc`s).
#[derive(Clone)]
pub struct Ctx {
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<Secrets>,
    pub settings: Arc<Settings>,
}

impl Ctx {
    pub fn new(clock: Arc<dyn Clock>, secrets: Secrets, settings: Settings) -> Ctx {
        Ctx { clock, secrets: Arc::new(secrets), settings: Arc::new(settings) }
    }

    /// The data key `account`'s personal data is sealed with (`kernel::envelope`).
    ///
    /// Errors: `Internal` if the store fails or the key cannot be unwrapped.
    pub async fn data_key(
        &self,
        account: &crate::kernel::AccountId,
    ) -> Result<crate::kernel::envelope::DataKey, crate::kernel::Internal> {
        self.secrets.envelope.account_key(account, self.now()).await
    }

    /// Seconds since the Unix epoch, from the `Clock`.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// A new time-ordered id (UUID version 7, RFC 9562 section 5.7) whose time is the `Clock`'s
    /// second. Within a process ids follow the order they were made in, even across seconds
    /// (the counter context never goes back, also after a clock step); across nodes, ids of one
    /// second sort at random. Core takes time only from its `Clock` (clippy.toml forbids the
    /// wall clock here).
    pub fn new_id(&self) -> uuid::Uuid {
        // The counter context keeps ids made in one second in the order they were made (RFC
        // 9562 section 6.2, method 1), as records listed by id (releases) rely on.
        static ORDER: std::sync::Mutex<uuid::ContextV7> =
            std::sync::Mutex::new(uuid::ContextV7::new());
        let seconds = u64::try_from(self.clock.now()).unwrap_or(0);
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(&ORDER, seconds, 0))
    }
}
