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
pub(crate) mod pki;
pub(crate) mod registry;
pub(crate) mod serve;
pub(crate) mod sign;
pub(crate) mod stats;
pub(crate) mod verify;
pub(crate) mod wallet;

/// A new file readable by this user only (0600): never an existing file, device or link, which
/// a backup or a key must not overwrite or follow.
pub(crate) fn create_private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
