//! The civpass domain: identities, devices, relying parties, login requests, grants, consents
//! and data releases, and the use cases over them.
//!
//! No HTTP, SQL or filesystem here: storage, the population registry, identity evidence and the
//! clock are ports (traits) that the outer crates implement. Time is always a parameter.

pub mod account;
pub mod clients;
pub mod clock;
pub mod dpop;
pub mod enrol;
pub mod evidence;
pub mod hkid;
pub mod keys;
pub mod login;
pub mod login_context;
pub mod logout;
pub mod model;
pub mod par;
pub mod passkey;
pub mod registration;
pub mod registry;
pub mod scopes;
pub mod services;
pub mod store;
pub mod token;
