//! Configuration. Precedence, lowest to highest: defaults, the TOML file (`--config`), `CIVPASS_*`
//! environment variables, flags. Unknown keys in the file are an error.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

/// Keys of the TOML file; each has a flag and an environment variable of the same meaning.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) database_url: Option<String>,
    pub(crate) listen: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) registry_url: Option<String>,
    pub(crate) evidence_url: Option<String>,
    pub(crate) master_key: Option<String>,
    pub(crate) rate_limit_authorize: Option<u32>,
    pub(crate) rate_limit_token: Option<u32>,
    pub(crate) rate_limit_device: Option<u32>,
    pub(crate) rate_limit_registration: Option<u32>,
    pub(crate) identity_attempts_per_hour: Option<u32>,
    pub(crate) max_pending_logins_per_browser: Option<u32>,
    pub(crate) max_pending_logins_per_address: Option<u32>,
    pub(crate) require_par: Option<bool>,
    pub(crate) require_dpop: Option<bool>,
    pub(crate) allow_private_uris: Option<bool>,
    pub(crate) fapi2: Option<bool>,
    pub(crate) ip_location_db: Option<PathBuf>,
    pub(crate) trusted_proxies: Option<Vec<String>>,
    pub(crate) ipv6_client_prefix: Option<u8>,
    pub(crate) header_read_timeout: Option<u64>,
    pub(crate) idle_timeout: Option<u64>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_client: Option<usize>,
    pub(crate) operator_name: Option<String>,
    pub(crate) privacy_url: Option<String>,
    pub(crate) help_url: Option<String>,
}

impl FileConfig {
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else { return Ok(FileConfig::default()) };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
    }
}

/// Where the platform keeps its data: every command that opens it takes these.
#[derive(Args, Clone)]
pub(crate) struct StorageArgs {
    /// Data directory (SQLite database and master key) [default: ./civpass-data].
    #[arg(long, env = "CIVPASS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `postgres://…` selects PostgreSQL; default SQLite in the data directory.
    #[arg(long, env = "CIVPASS_DATABASE_URL")]
    database_url: Option<String>,
    /// Master secret, base64url of 32 bytes [default: DATA_DIR/master.key, created on first start].
    #[arg(long, env = "CIVPASS_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// Base URL of an HTTP population registry; default the synthetic sandbox registry.
    #[arg(long, env = "CIVPASS_REGISTRY_URL")]
    registry_url: Option<String>,
    /// Base URL of a vendor's identity evidence service (document, liveness and face match);
    /// default the sandbox verifier, which only the sandbox registry may use.
    #[arg(long, env = "CIVPASS_EVIDENCE_URL")]
    evidence_url: Option<String>,
}

impl StorageArgs {
    pub(crate) fn resolve(&self, file: &FileConfig) -> StorageConfig {
        StorageConfig::resolve(
            file,
            self.data_dir.clone(),
            self.database_url.clone(),
            self.master_key.clone(),
            self.registry_url.clone(),
            self.evidence_url.clone(),
        )
    }
}

/// Where civpass keeps its data, after precedence is applied.
#[derive(Debug, Clone)]
pub(crate) struct StorageConfig {
    pub(crate) data_dir: PathBuf,
    pub(crate) database_url: String,
    /// Base64url of 32 bytes; `None` means the `master.key` file in the data directory.
    pub(crate) master_key: Option<String>,
    pub(crate) registry_url: Option<String>,
    pub(crate) evidence_url: Option<String>,
}

impl StorageConfig {
    pub(crate) fn resolve(
        file: &FileConfig,
        data_dir: Option<PathBuf>,
        database_url: Option<String>,
        master_key: Option<String>,
        registry_url: Option<String>,
        evidence_url: Option<String>,
    ) -> StorageConfig {
        let data_dir = data_dir
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./civpass-data"));
        let database_url =
            database_url.or_else(|| file.database_url.clone()).unwrap_or_else(|| {
                format!("sqlite://{}?mode=rwc", data_dir.join("civpass.db").display())
            });
        StorageConfig {
            data_dir,
            database_url,
            master_key: master_key.or_else(|| file.master_key.clone()),
            registry_url: registry_url.or_else(|| file.registry_url.clone()),
            evidence_url: evidence_url.or_else(|| file.evidence_url.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file: FileConfig =
            toml::from_str("data_dir = \"/srv/civpass\"\ndatabase_url = \"postgres://db/civpass\"")
                .unwrap();
        let resolved =
            StorageConfig::resolve(&file, None, Some("sqlite://x.db".into()), None, None, None);
        assert_eq!(resolved.data_dir, PathBuf::from("/srv/civpass"));
        assert_eq!(resolved.database_url, "sqlite://x.db");
        let defaults = StorageConfig::resolve(&FileConfig::default(), None, None, None, None, None);
        assert_eq!(defaults.database_url, "sqlite://./civpass-data/civpass.db?mode=rwc");
    }

    #[test]
    fn unknown_keys_in_the_file_are_an_error() {
        assert!(toml::from_str::<FileConfig>("lisen = \"127.0.0.1:1\"").is_err());
    }
}
