//! SQLite and PostgreSQL storage for civpass, behind the store traits of `civpass-core`.
//!
//! One implementation serves both databases through sqlx's `Any` driver: the SQL is written once
//! in the subset both dialects share (`$n` parameters, `ON CONFLICT`, `RETURNING`), and only
//! connection set-up and migrations differ. Each dialect has its own embedded migrations under
//! `migrations/{sqlite,postgres}` with the same file names.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`, so an acknowledged write survives a crash
//! of the process and of the machine. Its writes go through one writer task that commits queued
//! writes together (group commit, see `writer.rs`); reads use a pool of connections.

mod account;
pub mod backup;
mod consent;
mod counter;
mod device;
mod eme;
mod identity;
mod keys;
mod oidc;
mod outbox;
mod rows;
mod signing;
mod sql;
mod tx;
mod writer;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use civpass_core::kernel::Internal;
use civpass_core::kernel::store::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, SqlSafeStr};

use crate::writer::Writer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect a database URL names.
    ///
    /// Errors: `Backend` for a URL that is neither `sqlite:` nor `postgres:`/`postgresql:`.
    pub fn of(url: &str) -> Result<Dialect, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Dialect::Postgres)
        } else {
            Err(StoreError::backend("database URL must start with sqlite: or postgres:"))
        }
    }
}

/// SQLite reader connections. Each runs on a thread of its own in sqlx, and more threads than
/// cores only add context switches: 4 measured best on 2 cores (docs/BENCHMARKS.md).
const READERS: u32 = 4;

/// The civpass store on one database.
#[derive(Clone)]
pub struct SqlStore {
    writer: Writer,
    reader: AnyPool,
    dialect: Dialect,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlStore({:?})", self.dialect)
    }
}

macro_rules! migrations {
    ($dir:literal: $($version:literal $name:literal),* $(,)?) => {
        vec![$(Migration::new(
            $version,
            Cow::Borrowed($name),
            MigrationType::Simple,
            include_str!(concat!("../migrations/", $dir, "/", $name, ".sql")).into_sql_str(),
            false,
        )),*]
    };
}

fn migrator(dialect: Dialect) -> Migrator {
    Migrator::with_migrations(match dialect {
        Dialect::Sqlite => {
            migrations!("sqlite": 1 "0001_login_flow", 2 "0002_app", 3 "0003_refresh_reuse", 4 "0004_client_metadata", 5 "0005_par", 6 "0006_dpop", 7 "0007_registration", 8 "0008_oidc_requests", 9 "0009_logout", 10 "0010_key_rotation", 11 "0011_sectors", 12 "0012_passkey_credentials", 13 "0013_dpop_code_binding", 14 "0014_logout_outbox", 15 "0015_backfill_credential_ids", 16 "0016_logout_sid", 17 "0017_identity_evidence", 18 "0018_login_context", 19 "0019_pending_caps", 20 "0020_grant_browser", 21 "0021_revoked_access_tokens", 22 "0022_pushed_request_origin", 23 "0023_client_disabled", 24 "0024_outbox", 25 "0025_client_metadata_document", 26 "0026_registration_points", 27 "0027_account_lifecycle", 28 "0028_registry_events", 29 "0029_kiosks", 30 "0030_account_event_order", 31 "0031_counter_acts_by_time", 32 "0032_staff_sign_in", 33 "0033_guardians", 34 "0034_counter_passkeys", 35 "0035_pending_recoveries", 36 "0036_eme_vaults", 37 "0037_claims_filter", 38 "0038_verified_claims", 39 "0039_consent_terms", 40 "0040_form_filling", 41 "0041_blobs", 42 "0042_wrapped_keys", 43 "0043_consent_approvals", 44 "0044_master_key_checks", 45 "0045_pki", 46 "0046_signing_requests", 47 "0047_signing_documents_sealed")
        }
        Dialect::Postgres => {
            migrations!("postgres": 1 "0001_login_flow", 2 "0002_app", 3 "0003_refresh_reuse", 4 "0004_client_metadata", 5 "0005_par", 6 "0006_dpop", 7 "0007_registration", 8 "0008_oidc_requests", 9 "0009_logout", 10 "0010_key_rotation", 11 "0011_sectors", 12 "0012_passkey_credentials", 13 "0013_dpop_code_binding", 14 "0014_logout_outbox", 15 "0015_backfill_credential_ids", 16 "0016_logout_sid", 17 "0017_identity_evidence", 18 "0018_login_context", 19 "0019_pending_caps", 20 "0020_grant_browser", 21 "0021_revoked_access_tokens", 22 "0022_pushed_request_origin", 23 "0023_client_disabled", 24 "0024_outbox", 25 "0025_client_metadata_document", 26 "0026_registration_points", 27 "0027_account_lifecycle", 28 "0028_registry_events", 29 "0029_kiosks", 30 "0030_account_event_order", 31 "0031_counter_acts_by_time", 32 "0032_staff_sign_in", 33 "0033_guardians", 34 "0034_counter_passkeys", 35 "0035_pending_recoveries", 36 "0036_eme_vaults", 37 "0037_claims_filter", 38 "0038_verified_claims", 39 "0039_consent_terms", 40 "0040_form_filling", 41 "0041_blobs", 42 "0042_wrapped_keys", 43 "0043_consent_approvals", 44 "0044_master_key_checks", 45 "0045_pki", 46 "0046_signing_requests", 47 "0047_signing_documents_sealed")
        }
    })
}

impl SqlStore {
    /// Whether the database at `url` already holds a civpass platform (signing keys), found
    /// without changing anything: no migration runs, so a mistyped URL naming another
    /// application's database is left as it was.
    ///
    /// Errors: `Backend` if the database cannot be reached at all.
    pub async fn holds_platform(url: &str) -> Result<bool, StoreError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url).map_err(backend)?;
        let mut conn = AnyConnection::connect_with(&options).await.map_err(backend)?;
        // A missing table is an error here: no platform.
        let found = sqlx::query("SELECT COUNT(*) FROM signing_keys").fetch_one(&mut conn).await;
        let _ = conn.close().await;
        Ok(match found {
            Ok(row) => sqlx::Row::try_get::<i64, _>(&row, 0).map_err(backend)? > 0,
            Err(_) => false,
        })
    }

    /// Applies the migrations up to `version` and no further, to write data as an older
    /// civpass did and show that the newer one reads it (the upgrade tests).
    ///
    /// Errors: `Backend` if the database cannot be reached or a migration fails.
    #[doc(hidden)]
    pub async fn migrate_to(url: &str, version: i64) -> Result<(), StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of(url)?;
        let older: Vec<Migration> =
            migrator(dialect).iter().filter(|m| m.version <= version).cloned().collect();
        let options = AnyConnectOptions::from_str(url).map_err(backend)?;
        let mut conn = AnyConnection::connect_with(&options).await.map_err(backend)?;
        Migrator::with_migrations(older)
            .run(&mut conn)
            .await
            .map_err(|e| StoreError::Backend(Box::new(Internal::caused("migration failed", e))))?;
        conn.close().await.map_err(backend)
    }

    /// Opens `sqlite://PATH` (created if missing) or `postgres://…` and applies migrations.
    pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of(url)?;
        let options = AnyConnectOptions::from_str(url).map_err(backend)?;
        let store = match dialect {
            Dialect::Sqlite => {
                let reader = AnyPoolOptions::new()
                    .max_connections(READERS)
                    .min_connections(1)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await }))
                    .connect_with(options.clone())
                    .await
                    .map_err(backend)?;
                migrator(dialect).run(&reader).await.map_err(|e| {
                    StoreError::Backend(Box::new(Internal::caused("migration failed", e)))
                })?;
                let mut conn = AnyConnection::connect_with(&options).await.map_err(backend)?;
                sqlite_pragmas(&mut conn).await.map_err(backend)?;
                SqlStore { writer: Writer::batched(conn), reader, dialect }
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _| Box::pin(async move { postgres_session(conn).await }))
                    .connect_with(options)
                    .await
                    .map_err(backend)?;
                migrator(dialect).run(&pool).await.map_err(|e| {
                    StoreError::Backend(Box::new(Internal::caused("migration failed", e)))
                })?;
                SqlStore { writer: Writer::Pool(pool.clone()), reader: pool, dialect }
            }
        };
        Ok(store)
    }
}

/// How long a request waits for a pooled connection (or for PostgreSQL to accept a new one)
/// before it is answered 503 with `Retry-After`: well inside the server's 30-second request
/// timeout, so that an exhausted pool or an unreachable server is reported as such.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL for concurrent readers; FULL so that a commit is on disk before it is acknowledged; a
/// 32 MiB page cache and memory-mapped reads, because ids and code hashes are random keys whose
/// index pages fall out of SQLite's default 2 MiB cache as the tables grow.
async fn sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456;",
    )
    .await?;
    Ok(())
}

/// A backstop behind the writer's own cancellation safety: the server ends any session that
/// sits inside a transaction for a minute (no write of ours takes that long), so a fault in a
/// driver cannot hold locks or a pooled connection for ever.
async fn postgres_session(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("SET idle_in_transaction_session_timeout = '60s'").await?;
    Ok(())
}

/// Maps driver errors so that sqlx types never reach core.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Conflict(db.constraint().unwrap_or("foreign key").to_owned())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound,
        _ if is_transient(&e) => StoreError::Unavailable(Box::new(e)),
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// Whether retrying later may succeed: no connection could be had or kept, or the database was
/// too busy (SQLite `SQLITE_BUSY`/`SQLITE_LOCKED` and their extended codes; PostgreSQL SQLSTATE
/// classes 08 connection exception and 53 insufficient resources, 57P01-57P03 shutting down or
/// starting, 40001 serialization failure, 40P01 deadlock, 55P03 lock not available, and 55000,
/// which is what a database closed to connections answers a new one).
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                code.starts_with("08")
                    || code.starts_with("53")
                    || matches!(
                        &*code,
                        "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03" | "55000"
                    )
            } else {
                code.parse::<u32>().is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every migration file is embedded, in order, for both dialects: a file added but not
    /// listed would leave its column missing at run time.
    #[test]
    fn every_migration_file_is_listed_in_order() {
        for (dialect, dir) in [(Dialect::Sqlite, "sqlite"), (Dialect::Postgres, "postgres")] {
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| {
                    e.unwrap().file_name().to_string_lossy().trim_end_matches(".sql").to_owned()
                })
                .collect();
            files.sort();
            let listed: Vec<String> =
                migrator(dialect).iter().map(|m| m.description.to_string()).collect();
            assert_eq!(listed, files, "{dir}");
            let versions: Vec<i64> = migrator(dialect).iter().map(|m| m.version).collect();
            assert_eq!(versions, (1..=files.len() as i64).collect::<Vec<_>>(), "{dir}");
        }
    }

    /// A database another writer holds is busy, which retrying may cure: `Unavailable`, not
    /// `Backend` (the server then answers 503 with `Retry-After`, not 500).
    #[tokio::test]
    async fn a_busy_sqlite_database_is_unavailable_not_failed() {
        sqlx::any::install_default_drivers();
        let path = std::env::temp_dir().join(format!("civpass-busy-{}.db", std::process::id()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let options = AnyConnectOptions::from_str(&url).unwrap();
        let mut holder = AnyConnection::connect_with(&options).await.unwrap();
        holder
            .execute("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .await
            .unwrap();
        let mut other = AnyConnection::connect_with(&options).await.unwrap();
        other.execute("PRAGMA busy_timeout = 0").await.unwrap();
        let busy = other.execute("INSERT INTO t VALUES (2)").await.unwrap_err();
        let mapped = backend(busy);
        assert!(matches!(mapped, StoreError::Unavailable(_)), "{mapped:?}");
        let _ = std::fs::remove_file(&path);
    }
}
