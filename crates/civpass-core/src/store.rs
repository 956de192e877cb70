//! `Store`: every slice's storage ports at once, as one storage implementation provides them.
//! Only the composition (`platform`) and the outer crates name it; a slice asks for the narrow
//! ports it uses.

use crate::account::store::AppSessionStore;
use crate::consent::store::ConsentStore;
use crate::device::store::{CeremonyStore, DeviceStore};
use crate::identity::store::{AccountStore, AttemptStore};
use crate::kernel::outbox::OutboxStore;
use crate::kernel::store::TransactionStore;
use crate::keys::store::KeyStore;
use crate::oidc::store::{ClientStore, GrantStore, LoginStore, OidcWrites, ReplayStore};

/// Everything a storage implementation provides.
pub trait Store:
    AccountStore
    + AttemptStore
    + DeviceStore
    + CeremonyStore
    + AppSessionStore
    + ConsentStore
    + KeyStore
    + ClientStore
    + ReplayStore
    + LoginStore
    + GrantStore
    + OutboxStore
    + TransactionStore<OidcWrites>
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: AccountStore
        + AttemptStore
        + DeviceStore
        + CeremonyStore
        + AppSessionStore
        + ConsentStore
        + KeyStore
        + ClientStore
        + ReplayStore
        + LoginStore
        + GrantStore
        + OutboxStore
        + TransactionStore<OidcWrites>
        + Send
        + Sync
{
}

/// Every storage port trait, for code that holds a whole store and calls its methods (the
/// wiring, the store's own tests, end-to-end tests): `use civpass_core::store::ports::*;`.
pub mod ports {
    pub use crate::account::store::AppSessionStore;
    pub use crate::consent::store::{ConsentStore, ConsentWrites};
    pub use crate::device::store::{CeremonyStore, DeviceStore};
    pub use crate::identity::store::{AccountStore, AttemptStore};
    pub use crate::kernel::outbox::{OutboxStore, OutboxWrites};
    pub use crate::kernel::store::TransactionStore;
    pub use crate::keys::store::KeyStore;
    pub use crate::oidc::store::{
        ClientStore, GrantStore, LoginStore, OidcTransaction, ReplayStore,
    };
}
