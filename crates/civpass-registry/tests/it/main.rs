//! Integration tests of civpass-registry: the synthetic population, the HTTP registry adapter and
//! the identity evidence verifiers.

// `allow-unwrap-in-tests` covers `#[test]` functions but not the helpers beside them in a test binary,
// where a panic is the intended failure too.
#![allow(clippy::unwrap_used)]

mod contract;
mod evidence;
mod http_registry;
mod sandbox_registry;
