//! The kernel every slice shares: the context (`Ctx`: clock, ids, secrets and settings), typed
//! ids, the internal error, the storage error and transaction seam, and the typed outbox.
//!
//! The kernel knows no slice: nothing here imports `crate::{identity, device, consent, oidc,
//! account, keys}` (the tidy test checks it).

pub mod ceremony;
pub mod clock;
pub mod ctx;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod outbox;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod text;

pub use clock::{Clock, UnixTime};
pub use ctx::Ctx;
pub use error::Internal;
pub use ids::{AccountId, ClientId, DeviceId, GrantId, LoginRequestId};
pub use secrets::Secrets;
pub use settings::Settings;
