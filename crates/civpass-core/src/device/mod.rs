//! Devices: a citizen's phone as the authenticator. Registration from the phone (a software
//! key, or a passkey), moving to a new phone, and the WebAuthn ceremonies.

pub mod enrol;
pub mod model;
pub mod passkey;
pub mod store;
