//! One module per group of routes; each exposes `router()`.

pub(crate) mod account;
pub(crate) mod app;
pub(crate) mod console;
pub(crate) mod counter;
pub(crate) mod device;
pub(crate) mod eme;
pub(crate) mod info;
pub(crate) mod login;
pub(crate) mod meta;
pub(crate) mod oidc;
pub(crate) mod openapi;
pub(crate) mod registration;
pub(crate) mod signing;
