//! Test support: a real civpass server on a free loopback port over a fresh database, on
//! SQLite always and on PostgreSQL when `CIVPASS_TEST_DATABASE_URL` is set.
//!
//! Each test gets its own database (a new SQLite file, or a new PostgreSQL database) and drops
//! it at the end, because the PostgreSQL server outlives the test run and CI shares it.

// Test support may panic on set-up failures: that is how a test reports them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use civpass_core::kernel::clock::{Clock, FixedClock};
use civpass_core::platform::Platform;
use civpass_crypto::secret::b64url;
use civpass_driver::{Config, Node, Overrides, SystemClock};
use civpass_registry::SandboxRegistry;
use civpass_store::SqlStore;
use civpass_wallet::Wallet;
use sqlx::Connection;

mod dpop;
mod passkey;
pub use dpop::DpopKey;
pub use passkey::SoftPasskey;

/// A database to run a test against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// The administrative URL; each test creates its own database through it.
    Postgres(String),
}

/// SQLite always; PostgreSQL too when `CIVPASS_TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if let Ok(url) = std::env::var("CIVPASS_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        out.push(Backend::Postgres(url));
    }
    out
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub dir: PathBuf,
    drop_target: Option<(String, String)>,
}

impl TestDb {
    pub async fn create(backend: &Backend) -> TestDb {
        let dir =
            std::env::temp_dir().join(format!("civpass-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}?mode=rwc", dir.join("civpass.db").display()),
                dir,
                drop_target: None,
            },
            Backend::Postgres(admin) => {
                let name = format!("civpass_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .expect("connecting to CIVPASS_TEST_DATABASE_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.ok();
                let mut url = url::Url::parse(admin).unwrap();
                url.set_path(&format!("/{name}"));
                TestDb { url: url.to_string(), dir, drop_target: Some((admin.clone(), name)) }
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.drop_target.is_some()
    }

    /// On PostgreSQL, the connections to this test's database that sit inside a transaction
    /// with nobody using them (`pg_stat_activity`); always 0 on SQLite.
    pub async fn idle_in_transaction(&self) -> i64 {
        let Some((admin, name)) = &self.drop_target else { return 0 };
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        let row: (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
        )
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
        row.0
    }

    /// On PostgreSQL, cuts this test's database off (`allowed = false`: no new connections, and
    /// the open ones are terminated) or lets it be reached again; false on SQLite, which has
    /// no server to lose.
    pub async fn set_reachable(&self, allowed: bool) -> bool {
        let Some((admin, name)) = &self.drop_target else { return false };
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {allowed}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        if !allowed {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(name)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        let _ = conn.close().await;
        true
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.drop_target.take() {
            // Drop runs inside the test's runtime, which cannot be blocked on: use a thread
            // with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running server and handles on its insides.
pub struct TestServer {
    pub base: String,
    pub services: Platform,
    pub store: SqlStore,
    /// Set when the server was started with a hand-set clock.
    pub clock: Option<Arc<FixedClock>>,
    pub backend: Backend,
    /// The server's registry, so tests enrol people it knows.
    pub registry: Arc<SandboxRegistry>,
    task: tokio::task::JoinHandle<()>,
    /// Key reload, housekeeping and (unless manual) back-channel logout delivery.
    background: Vec<tokio::task::JoinHandle<()>>,
    // Dropped last: the database outlives the server using it.
    pub db: TestDb,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        for task in &self.background {
            task.abort();
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Use a hand-set clock starting at the real time, for expiry tests.
    pub fixed_clock: bool,
    /// Name the issuer `http://localhost:PORT` rather than by IP, as passkeys need.
    pub localhost: bool,
    /// Rate limits; off unless a test sets them, because tests hammer one address.
    pub rate_limits: Option<civpass_server::RateLimits>,
    /// The FAPI 2.0 profile for every client.
    pub fapi2: bool,
    /// An issuer other than the address served, e.g. an https one to see what changes under it.
    pub issuer: Option<&'static str>,
    /// No background delivery of back-channel logouts: the test calls
    /// `services.oidc.deliver_logout_notices()` when it wants a round.
    pub manual_outbox: bool,
    /// Proxies (addresses or CIDR) whose `X-Forwarded-For` names the client for rate limits.
    pub trusted_proxies: &'static [&'static str],
    /// Connection timeouts and caps; the defaults `serve` runs with unless a test sets them.
    pub connections: Option<civpass_server::ConnectionLimits>,
    /// Registrations one identity may attempt in an hour, if not the default (0 turns it off,
    /// for tests that register one person many times).
    pub identity_attempts_per_hour: Option<u32>,
    /// Pending login requests per browser and per address; off unless a test sets them, like
    /// the rate limits, because tests start many logins from one address.
    pub pending_caps: Option<(u32, u32)>,
}

/// Starts a server on 127.0.0.1 with an OS-chosen port over a fresh database.
pub async fn spawn_server(backend: &Backend) -> TestServer {
    spawn_server_with(backend, Options::default()).await
}

pub async fn spawn_server_with(backend: &Backend, options: Options) -> TestServer {
    let db = TestDb::create(backend).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let base = if options.localhost {
        format!("http://localhost:{}", address.port())
    } else {
        format!("http://{address}")
    };
    let fixed = options.fixed_clock.then(|| Arc::new(FixedClock::at(SystemClock.now())));
    let registry = Arc::new(SandboxRegistry::generate(200));
    // The configuration the binary would read, as a test needs it: the platform is built by
    // the same wiring (`civpass_driver`), only the clock and the population replaced.
    let mut config = Config::default();
    config.storage.data_dir = db.dir.clone();
    config.storage.database_url = Some(db.url.clone());
    config.storage.master_key = Some(b64url(&[42; 32]));
    config.server.issuer = Some(options.issuer.map_or(base.clone(), str::to_owned));
    // The fixture names places for loopback and the documentation ranges.
    config.server.ip_location_db = Some(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/ip-location-test.mmdb"),
    );
    let connections = options.connections.unwrap_or_default();
    config.server.header_read_timeout = connections.header_read_timeout.as_secs();
    config.server.idle_timeout = connections.idle_timeout.as_secs();
    config.server.max_connections = connections.max_connections;
    config.server.max_connections_per_client = connections.max_connections_per_client;
    // Tests serve clients' documents and logout endpoints on loopback.
    config.oidc.allow_private_uris = true;
    config.oidc.fapi2 = options.fapi2;
    // Tests hammer one address: rate limits and pending caps are off unless a test sets them.
    let rates = options.rate_limits.unwrap_or(civpass_server::RateLimits::OFF);
    config.limits.rate_limit_authorize = rates.authorize;
    config.limits.rate_limit_token = rates.token;
    config.limits.rate_limit_device = rates.device;
    config.limits.rate_limit_registration = rates.registration;
    (config.limits.max_pending_logins_per_browser, config.limits.max_pending_logins_per_address) =
        options.pending_caps.unwrap_or((0, 0));
    if let Some(attempts) = options.identity_attempts_per_hour {
        config.limits.identity_attempts_per_hour = attempts;
    }
    config.limits.trusted_proxies =
        options.trusted_proxies.iter().map(|p| (*p).to_owned()).collect();
    let overrides = Overrides {
        clock: fixed.clone().map(|c| c as Arc<dyn Clock>),
        registry: Some(registry.clone()),
    };
    let issuer = config.issuer(address);
    let node = Node::build(&config, &issuer, overrides).await.expect("building the node");
    let background = node.start_background(!options.manual_outbox);
    let (services, store) = (node.platform.clone(), node.store.clone());
    let task = tokio::spawn(async move {
        node.serve(listener, std::future::pending()).await.expect("serving");
    });
    TestServer {
        base,
        services,
        store,
        clock: fixed,
        backend: backend.clone(),
        registry,
        task,
        background,
        db,
    }
}

impl TestServer {
    /// A sandbox person by index, as (HKID, English name, date of birth).
    pub fn person(&self, idx: usize) -> (String, String, String) {
        let p = &self.registry.people()[idx];
        (p.hkid.to_string(), p.name_en.clone(), p.date_of_birth.to_string())
    }

    /// A wallet enrolled for sandbox person `idx`.
    pub async fn enrolled_wallet(&self, idx: usize) -> Wallet {
        let (hkid, name, dob) = self.person(idx);
        let mut wallet = Wallet::create(&self.base).unwrap();
        wallet.enrol(&hkid, &name, &dob, Some("pass"), None).await.expect("enrolment");
        wallet
    }

    /// A confidential client with one redirect URI; returns (id, secret).
    pub async fn client(&self, redirect_uri: &str) -> (String, String) {
        let created = self
            .services
            .oidc
            .create_client("Test service", &[redirect_uri.to_owned()], false)
            .await
            .unwrap();
        (created.client.id.into(), created.secret.unwrap())
    }
}
