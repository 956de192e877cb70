//! Consent: what a citizen agreed each service may receive, and the catalogue of the claims and
//! scopes there are to agree to.

pub mod claims;
pub mod model;
pub mod store;
