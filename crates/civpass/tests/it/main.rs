//! End-to-end tests: a real server on a free port, the `openidconnect` crate as the relying
//! party, the wallet as the app, on SQLite and (with `CIVPASS_TEST_DATABASE_URL`) PostgreSQL.

// Tests report set-up failures by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod at_rest;
mod attacks;
mod backup;
mod cli;
mod client_auth;
mod connections;
mod consents;
mod console;
mod contracts;
mod counter;
mod dpop;
mod durability;
mod eme;
mod failures;
mod fapi;
mod flow;
mod forms;
mod keys;
mod lifecycle;
mod limits;
mod logout;
mod logs;
mod master_key;
mod metrics;
mod minors;
mod newcomer;
mod oidc_params;
mod par;
mod pki;
mod proofing;
mod registration;
mod rp_libraries;
mod sectors;
mod signing;
mod support;
mod tokens;
mod webauthn_fuzz;
