//! `Platform`: the facade the server and the CLI hold. It builds every slice's service from
//! the ports once (`Platform::new`, then `with_*` for the optional ones) and hands each service
//! only the narrow ports it uses; callers reach a use case through its slice
//! (`platform.oidc.exchange_code(…)`).

use crate::signing::SigningService;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::account::AccountService;
use crate::consent::ConsentService;
use crate::counter::CounterService;
use crate::device::DeviceService;
use crate::eme::EmeService;
use crate::eme::verification::{Mailer, SmsGateway};
use crate::identity::IdentityService;
use crate::identity::evidence::{EvidenceVerifier, NoEvidenceVerifier};
use crate::identity::registry::RegistrySource;
use crate::kernel::ceremony::Ceremonies;
use crate::kernel::store::StoreError;
use crate::kernel::telemetry::Gauges;
use crate::kernel::{Clock, Ctx, Internal, Secrets, Settings};
use crate::keys::{KeyRing, KeyService};
use crate::oidc::OidcService;
use crate::oidc::clients::{JwksCache, JwksSource, NoJwksSource};
use crate::oidc::login_context::{IpLocator, NoIpLocator};
use crate::oidc::logout::{LogoutNotifier, NoLogoutNotifier};
use crate::store::Store;

/// The ports a platform is built from.
#[derive(Clone)]
struct Ports {
    store: Arc<dyn Store>,
    registry: Arc<dyn RegistrySource>,
    clock: Arc<dyn Clock>,
    secrets: Secrets,
    keys: Arc<KeyRing>,
    settings: Settings,
    jwks_source: Arc<dyn JwksSource>,
    logout_notifier: Arc<dyn LogoutNotifier>,
    evidence: Arc<dyn EvidenceVerifier>,
    ip_locator: Arc<dyn IpLocator>,
    mailer: Option<Arc<dyn Mailer>>,
    sms: Option<Arc<dyn SmsGateway>>,
}

/// Why a node is not ready to serve.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database does not answer")]
    Database(#[source] StoreError),
    #[error("no signing key is loaded")]
    NoSigningKey,
}

/// Every slice's service, built over one store.
#[derive(Clone)]
pub struct Platform {
    pub identity: IdentityService,
    pub device: DeviceService,
    pub eme: EmeService,
    pub consent: ConsentService,
    pub keys: KeyService,
    pub oidc: OidcService,
    pub account: AccountService,
    pub counter: CounterService,
    pub signing: SigningService,
    ports: Ports,
}

impl Platform {
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<dyn RegistrySource>,
        clock: Arc<dyn Clock>,
        secrets: Secrets,
        keys: Arc<KeyRing>,
        settings: Settings,
    ) -> Platform {
        Platform::build(Ports {
            store,
            registry,
            clock,
            secrets,
            keys,
            settings,
            jwks_source: Arc::new(NoJwksSource),
            logout_notifier: Arc::new(NoLogoutNotifier),
            evidence: Arc::new(NoEvidenceVerifier),
            ip_locator: Arc::new(NoIpLocator),
            mailer: None,
            sms: None,
        })
    }

    /// The platform's envelope of data keys (`civpass keys rotate-master` re-wraps through it).
    pub fn envelope(&self) -> Arc<crate::kernel::envelope::Envelope> {
        self.ports.secrets.envelope.clone()
    }

    /// The one place services are made: each gets the context and the ports it needs (the
    /// store as the narrow traits its slice declares).
    fn build(ports: Ports) -> Platform {
        let ctx = Ctx::new(ports.clock.clone(), ports.secrets.clone(), ports.settings.clone());
        let store = ports.store.clone();
        let ceremonies = Ceremonies::new(ctx.clone(), store.clone());
        let identity = IdentityService {
            ctx: ctx.clone(),
            store: store.clone(),
            registry: ports.registry.clone(),
            evidence: ports.evidence.clone(),
            ceremonies: ceremonies.clone(),
        };
        let device = DeviceService {
            ctx: ctx.clone(),
            identity: identity.clone(),
            ceremonies: ceremonies.clone(),
            store: store.clone(),
            webauthn: crate::device::passkey::relying_party(&ports.settings.issuer),
        };
        let keys = KeyService { ctx: ctx.clone(), ring: ports.keys.clone(), store: store.clone() };
        let eme = EmeService {
            ctx: ctx.clone(),
            identity: identity.clone(),
            store: store.clone(),
            blobs: store.clone(),
            ceremonies,
            mailer: ports.mailer.clone(),
            sms: ports.sms.clone(),
        };
        let oidc = OidcService {
            ctx: ctx.clone(),
            identity: identity.clone(),
            device: device.clone(),
            eme: eme.clone(),
            store: store.clone(),
            keys: ports.keys.clone(),
            jwks_source: ports.jwks_source.clone(),
            jwks_cache: Arc::new(JwksCache::default()),
            logout_notifier: ports.logout_notifier.clone(),
            ip_locator: ports.ip_locator.clone(),
            client_cache: Arc::new(Mutex::new(HashMap::new())),
        };
        let consent = ConsentService { store: store.clone() };
        let signing = SigningService {
            ctx: ctx.clone(),
            identity: identity.clone(),
            store: store.clone(),
            keys: Arc::new(crate::signing::keystore::SoftwareKeyStore { ctx: ctx.clone() }),
        };
        let counter = CounterService {
            ctx: ctx.clone(),
            identity: identity.clone(),
            device: device.clone(),
            signing: signing.clone(),
            store: store.clone(),
        };
        let account = AccountService {
            ctx,
            identity: identity.clone(),
            device: device.clone(),
            consent: consent.clone(),
            eme: eme.clone(),
            oidc: oidc.clone(),
            store,
            counter: counter.clone(),
            signing: signing.clone(),
        };
        Platform { identity, device, eme, consent, keys, oidc, account, counter, signing, ports }
    }

    fn rebuilt(mut self, change: impl FnOnce(&mut Ports)) -> Platform {
        change(&mut self.ports);
        Platform::build(self.ports)
    }

    /// Applies the FAPI 2.0 Security Profile to every client: PAR and DPoP required, and
    /// `private_key_jwt` the only client authentication (FAPI 2.0 section 5.3.2).
    pub fn with_fapi2(self, on: bool) -> Platform {
        self.rebuilt(|p| {
            p.settings.fapi2 = on;
            p.settings.require_par |= on;
            p.settings.require_dpop |= on;
        })
    }

    /// Delivers back-channel logout tokens through `notifier`.
    pub fn with_logout_notifier(self, notifier: Arc<dyn LogoutNotifier>) -> Platform {
        self.rebuilt(|p| p.logout_notifier = notifier)
    }

    /// Checks remote registrations' identity evidence with `verifier`; without one, remote
    /// registration is refused as unavailable.
    pub fn with_evidence_verifier(self, verifier: Arc<dyn EvidenceVerifier>) -> Platform {
        self.rebuilt(|p| p.evidence = verifier)
    }

    /// Sends e-mail verification links through `mailer` and SMS codes through `sms`; without
    /// one, that verification is unavailable.
    pub fn with_messaging(
        self,
        mailer: Option<Arc<dyn Mailer>>,
        sms: Option<Arc<dyn SmsGateway>>,
    ) -> Platform {
        self.rebuilt(|p| {
            p.mailer = mailer;
            p.sms = sms;
        })
    }

    /// Names the approximate place of a login's browser from its address, for the app to show.
    pub fn with_ip_locator(self, locator: Arc<dyn IpLocator>) -> Platform {
        self.rebuilt(|p| p.ip_locator = locator)
    }

    /// Lets `private_key_jwt` clients register a `jwks_uri`, fetched through `source`.
    pub fn with_jwks_source(self, source: Arc<dyn JwksSource>) -> Platform {
        self.rebuilt(|p| p.jwks_source = source)
    }

    /// Whether this node can serve (for a load balancer's readiness probe): the database
    /// answers a read, and the key ring holds a key that signs now.
    ///
    /// Errors: what is not ready, with its cause.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        self.ports.store.ping().await.map_err(NotReady::Database)?;
        let now = self.ports.clock.now();
        if self.ports.keys.signer(civpass_crypto::jws::Algorithm::ES256, now).is_none() {
            return Err(NotReady::NoSigningKey);
        }
        Ok(())
    }

    /// The gauges `/metrics` reports: the outbox's backlog, the pool's use and the signing
    /// key's age, read now.
    ///
    /// Errors: the store's, if the outbox cannot be read.
    pub async fn gauges(&self) -> Result<Gauges, Internal> {
        let now = self.ports.clock.now();
        let outbox = self.ports.store.outbox_stats().await?;
        Ok(Gauges {
            outbox_depth: outbox.depth,
            outbox_oldest_age_seconds: outbox.oldest_created_at.map_or(0, |t| (now - t).max(0)),
            pool: self.ports.store.pool_use(),
            signing_key_age_seconds: self
                .ports
                .keys
                .signer_age(civpass_crypto::jws::Algorithm::ES256, now),
            counter_acts_last_day: self.ports.store.count_counter_acts_since(now - 86_400).await?,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.oidc.ctx.settings
    }

    /// Deletes what has expired in every slice (login and pushed requests a while after
    /// expiry, ceremonies, app sessions, replay caches, retired refresh tokens, revoked access
    /// tokens, attempt counters); returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, Internal> {
        Ok(self.oidc.purge_expired().await?
            + self.identity.purge_expired().await?
            + self.signing.complete_due_moves().await?
            + self.signing.purge_signing_requests().await?
            + self.device.purge_expired().await?
            + self.account.purge_expired().await?
            + self.counter.purge_expired().await?)
    }
}
