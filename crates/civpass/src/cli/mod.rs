//! The command bodies, one file per command group: `serve` runs a node, `init`, `client`,
//! `keys` and `registry` administer the platform, `wallet` acts as a citizen's device and
//! `bench` measures a running server.

pub(crate) mod accounts;
pub(crate) mod backup;
pub(crate) mod bench;
pub(crate) mod client;
pub(crate) mod counter;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod registry;
pub(crate) mod serve;
pub(crate) mod stats;
pub(crate) mod wallet;
