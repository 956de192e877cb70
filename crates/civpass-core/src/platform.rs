//! `Services`: the use cases that the HTTP layer and the CLI call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use civpass_crypto::jws::Algorithm;

use crate::identity::evidence::{EvidenceVerifier, NoEvidenceVerifier};
use crate::identity::registry::RegistrySource;
use crate::kernel::clock::{Clock, UnixTime};
use crate::kernel::{Internal, Secrets, Settings};
use crate::keys::KeyRing;
use crate::oidc::clients::{ClientError, NewClient};
use crate::oidc::clients::{ClientSpec, JwksCache, JwksSource, NoJwksSource};
use crate::oidc::login_context::{IpLocator, NoIpLocator};
use crate::oidc::logout::{LogoutNotifier, NoLogoutNotifier};
use crate::oidc::model::{AuthMethod, Client};
use crate::store::Store;

#[derive(Clone)]
pub struct Services {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Arc<dyn RegistrySource>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) secrets: Arc<Secrets>,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) settings: Arc<Settings>,
    /// The WebAuthn relying party; `None` when the issuer has no domain name.
    pub(crate) webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    pub(crate) jwks_source: Arc<dyn JwksSource>,
    pub(crate) jwks_cache: Arc<JwksCache>,
    pub(crate) logout_notifier: Arc<dyn LogoutNotifier>,
    pub(crate) evidence: Arc<dyn EvidenceVerifier>,
    pub(crate) ip_locator: Arc<dyn IpLocator>,
    /// Recently read clients: every token request reads its client, and they rarely change.
    client_cache: Arc<Mutex<HashMap<String, (UnixTime, Client)>>>,
}

/// How long a client read from the store is used without reading it again. A change made on
/// another node (a registration updated or deleted) takes effect there within this time; this
/// node drops its copy at once.
const CLIENT_CACHE_SECONDS: UnixTime = 5;

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<dyn RegistrySource>,
        clock: Arc<dyn Clock>,
        secrets: Secrets,
        keys: Arc<KeyRing>,
        settings: Settings,
    ) -> Services {
        let webauthn = crate::device::passkey::relying_party(&settings.issuer);
        Services {
            store,
            registry,
            clock,
            secrets: Arc::new(secrets),
            keys,
            settings: Arc::new(settings),
            webauthn,
            jwks_source: Arc::new(NoJwksSource),
            jwks_cache: Arc::new(JwksCache::default()),
            logout_notifier: Arc::new(NoLogoutNotifier),
            evidence: Arc::new(NoEvidenceVerifier),
            ip_locator: Arc::new(NoIpLocator),
            client_cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Requires DPoP-bound tokens of every client (the FAPI 2.0 baseline).
    pub fn with_dpop_required(mut self, required: bool) -> Services {
        let mut settings = (*self.settings).clone();
        settings.require_dpop = required;
        self.settings = Arc::new(settings);
        self
    }

    /// Applies the FAPI 2.0 Security Profile to every client: PAR and DPoP required, and
    /// `private_key_jwt` the only client authentication (FAPI 2.0 section 5.3.2).
    pub fn with_fapi2(mut self, on: bool) -> Services {
        let mut settings = (*self.settings).clone();
        settings.fapi2 = on;
        settings.require_par |= on;
        settings.require_dpop |= on;
        self.settings = Arc::new(settings);
        self
    }

    /// Delivers back-channel logout tokens through `notifier`.
    pub fn with_logout_notifier(mut self, notifier: Arc<dyn LogoutNotifier>) -> Services {
        self.logout_notifier = notifier;
        self
    }

    /// Checks remote registrations' identity evidence with `verifier`; without one, remote
    /// registration is refused as unavailable.
    pub fn with_evidence_verifier(mut self, verifier: Arc<dyn EvidenceVerifier>) -> Services {
        self.evidence = verifier;
        self
    }

    /// Names the approximate place of a login's browser from its address, for the app to show.
    pub fn with_ip_locator(mut self, locator: Arc<dyn IpLocator>) -> Services {
        self.ip_locator = locator;
        self
    }

    /// Whether the evidence verifier is the sandbox's, which passes whatever a tester asks.
    pub fn evidence_is_sandbox(&self) -> bool {
        self.evidence.is_sandbox()
    }

    /// Lets `private_key_jwt` clients register a `jwks_uri`, fetched through `source`.
    pub fn with_jwks_source(mut self, source: Arc<dyn JwksSource>) -> Services {
        self.jwks_source = source;
        self
    }

    /// A registered client, from the cache if it was read in the last few seconds. Unknown ids
    /// are not cached, so strangers cannot fill the cache.
    ///
    /// A client the operator disabled is not found here: it cannot start logins, authenticate
    /// or have its tokens honoured until it is enabled again.
    pub(crate) async fn find_client(&self, id: &str) -> Result<Option<Client>, Internal> {
        let now = self.clock.now();
        if let Ok(cache) = self.client_cache.lock()
            && let Some((at, client)) = cache.get(id)
            && now - at < CLIENT_CACHE_SECONDS
        {
            return Ok(Some(client.clone()).filter(|c| c.disabled_at.is_none()));
        }
        let client = self.store.find_client(id).await?;
        if let (Some(client), Ok(mut cache)) = (&client, self.client_cache.lock()) {
            cache.insert(client.id.clone(), (now, client.clone()));
        }
        Ok(client.filter(|c| c.disabled_at.is_none()))
    }

    /// Forgets a cached client after it changed here.
    pub(crate) fn forget_client(&self, id: &str) {
        if let Ok(mut cache) = self.client_cache.lock() {
            cache.remove(id);
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new time-ordered id (UUID version 7, RFC 9562 section 5.7) whose time is the `Clock`'s
    /// second. Within a process ids follow the order they were made in, even across seconds
    /// (the counter context never goes back, also after a clock step); across nodes, ids of one
    /// second sort at random. Core takes time only from its `Clock` (clippy.toml forbids the
    /// wall clock here).
    pub(crate) fn new_id(&self) -> uuid::Uuid {
        // The counter context keeps ids made in one second in the order they were made (RFC
        // 9562 section 6.2, method 1), as records listed by id (releases) rely on.
        static ORDER: std::sync::Mutex<uuid::ContextV7> =
            std::sync::Mutex::new(uuid::ContextV7::new());
        let seconds = u64::try_from(self.clock.now()).unwrap_or(0);
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(&ORDER, seconds, 0))
    }

    /// Whether the app can register and use passkeys on this server.
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The published signing keys (`/jwks`).
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.jwks(self.clock.now())
    }

    /// Picks up keys rotated elsewhere (another node, or `civpass keys rotate`).
    pub async fn reload_keys(&self) -> Result<(), crate::keys::KeyRingError> {
        self.keys.reload(self.store.as_ref(), &self.secrets).await
    }

    /// Every stored signing key and its state now (`keys list`).
    pub async fn list_keys(&self) -> Result<Vec<crate::keys::KeyInfo>, Internal> {
        let stored = self.store.list_signing_keys().await?;
        Ok(crate::keys::describe(&stored, self.clock.now()))
    }

    /// Rotates the signing keys of `algs` (see `keys::rotate`) and reloads them here.
    pub async fn rotate_keys(
        &self,
        algs: &[Algorithm],
        activate_after: i64,
    ) -> Result<Vec<crate::keys::Rotated>, crate::keys::KeyRingError> {
        let rotated = crate::keys::rotate(
            self.store.as_ref(),
            &self.secrets,
            algs,
            self.clock.now(),
            activate_after,
            self.longest_token_lifetime(),
        )
        .await?;
        self.reload_keys().await?;
        Ok(rotated)
    }

    /// The longest lifetime of anything we sign: how long a replaced key stays published.
    pub fn longest_token_lifetime(&self) -> i64 {
        self.settings.access_token_ttl.max(self.settings.id_token_ttl)
    }

    pub async fn create_client(
        &self,
        name: &str,
        redirect_uris: &[String],
        public: bool,
    ) -> Result<NewClient, ClientError> {
        self.create_client_with(name, redirect_uris, public, Algorithm::ES256).await
    }

    /// Registers a client that wants its ID tokens signed with `id_token_alg`.
    pub async fn create_client_with(
        &self,
        name: &str,
        redirect_uris: &[String],
        public: bool,
        id_token_alg: Algorithm,
    ) -> Result<NewClient, ClientError> {
        let mut spec = ClientSpec::web(name, redirect_uris);
        spec.id_token_alg = id_token_alg;
        if public {
            spec.auth_methods = vec![AuthMethod::None];
        }
        self.register_client(spec).await
    }

    /// The pairwise subject of an account at a client (OIDC Core section 8.1): stable for the
    /// pair, unlinkable across sectors. A client's sector is the host of its
    /// `sector_identifier_uri`, so an organisation's services share subjects; without one it is
    /// the client itself, which keeps even two clients on one host apart.
    pub fn pairwise_subject(&self, account_id: &str, client: &Client) -> String {
        let sector = client.sector.as_deref().unwrap_or(&client.id);
        self.secrets.pairwise.hash(&[sector.as_bytes(), account_id.as_bytes()])
    }
}
