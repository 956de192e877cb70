//! The civpass domain: identities, devices, relying parties, login requests, grants, consents
//! and data releases, and the use cases over them.
//!
//! No HTTP, SQL or filesystem here: storage, the population registry, identity evidence and the
//! clock are ports (traits) that the outer crates implement. Time is always a parameter.
//!
//! One folder per feature slice over a small kernel; slices depend downward only (the tidy test
//! reads the `use crate::` lines): `kernel` ← `identity` ← `device` ← `consent` ← `keys` ←
//! `oidc` ← `account`, and `platform` (the facade the server and the CLI hold) over them all.

pub mod account;
pub mod consent;
pub mod counter;
pub mod device;
pub mod eme;
pub mod identity;
pub mod kernel;
pub mod keys;
pub mod oidc;
pub mod platform;
pub mod signing;
pub mod store;
