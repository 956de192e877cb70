//! Identity: who a citizen is. The HKID type, the population registry port, the identity
//! evidence a registration rests on, and the account with its sealed vault.

pub mod evidence;
pub mod hkid;
pub mod model;
pub mod registry;
pub mod store;
