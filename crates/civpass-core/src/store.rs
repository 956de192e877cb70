//! `Store`: every slice's storage ports at once, as one storage implementation provides them.
//! Only the composition (`platform`) and the outer crates name it; a slice asks for the narrow
//! ports it uses.

use crate::account::AccountStores;
use crate::consent::store::ConsentStore;
use crate::counter::CounterStores;
use crate::eme::store::{BlobStore, EmeStore};
use crate::identity::IdentityStores;
use crate::identity::store::DeviceStore;
use crate::kernel::ceremony::CeremonyStore;
use crate::kernel::envelope::WrappedKeyStore;
use crate::kernel::store::HealthStore;
use crate::keys::store::KeyStore;
use crate::oidc::OidcStores;
use crate::signing::store::SigningStore;

/// Everything a storage implementation provides: each slice's ports (so that a `dyn Store`
/// upcasts to the narrow set each service holds).
pub trait Store:
    IdentityStores
    + CounterStores
    + EmeStore
    + BlobStore
    + OidcStores
    + AccountStores
    + ConsentStore
    + DeviceStore
    + CeremonyStore
    + KeyStore
    + WrappedKeyStore
    + SigningStore
    + HealthStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: IdentityStores
        + CounterStores
        + EmeStore
        + BlobStore
        + OidcStores
        + AccountStores
        + ConsentStore
        + DeviceStore
        + CeremonyStore
        + KeyStore
        + WrappedKeyStore
        + SigningStore
        + HealthStore
        + Send
        + Sync
{
}

/// Every storage port trait, for code that holds a whole store and calls its methods (the
/// wiring, the store's own tests, end-to-end tests): `use civpass_core::store::ports::*;`.
pub mod ports {
    pub use crate::account::store::AppSessionStore;
    pub use crate::consent::store::{ConsentStore, ConsentWrites};
    pub use crate::counter::store::{
        CounterActStore, CounterTransaction, PendingPasskeyStore, PointStore,
        RegistrationCodeStore, StaffSignInStore, StaffStore,
    };
    pub use crate::eme::store::{BlobStore, EmeStore};
    pub use crate::identity::store::{AccountStore, AttemptStore, DeviceStore};
    pub use crate::kernel::ceremony::CeremonyStore;
    pub use crate::kernel::envelope::WrappedKeyStore;
    pub use crate::kernel::outbox::{OutboxStore, OutboxWrites};
    pub use crate::kernel::store::{HealthStore, TransactionStore};
    pub use crate::keys::store::KeyStore;
    pub use crate::oidc::store::{
        ClientStore, GrantStore, LoginStore, OidcTransaction, ReplayStore,
    };
    pub use crate::signing::store::SigningStore;
}
