//! The OpenID provider: relying parties and their authentication, authorization requests
//! (pushed and signed), login requests, DPoP, codes and tokens, UserInfo, dynamic registration,
//! and logout.

pub mod assurance;
pub mod clients;
pub mod dpop;
pub mod endpoints;
pub mod events;
pub mod forms;
pub mod login;
pub mod login_context;
pub mod logout;
pub mod model;
pub mod par;
pub mod registration;
pub mod store;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use civpass_crypto::jws::Algorithm;

use crate::consent::store::ConsentStore;
use crate::device::DeviceService;
use crate::identity::IdentityService;
use crate::kernel::ClientId;
use crate::kernel::outbox::OutboxStore;
use crate::kernel::store::TransactionStore;
use crate::kernel::{AccountId, Ctx, Internal, UnixTime};
use crate::keys::KeyRing;
use crate::oidc::clients::{ClientError, ClientSpec, JwksCache, JwksSource, NewClient};
use crate::oidc::login_context::IpLocator;
use crate::oidc::logout::LogoutNotifier;
use crate::oidc::model::{AuthMethod, Client};
use crate::oidc::store::{ClientStore, GrantStore, LoginStore, OidcWrites, ReplayStore};

/// The storage ports the OpenID provider uses.
pub trait OidcStores:
    ClientStore
    + ReplayStore
    + LoginStore
    + GrantStore
    + ConsentStore
    + OutboxStore
    + TransactionStore<OidcWrites>
    + Send
    + Sync
{
}

impl<T> OidcStores for T where
    T: ClientStore
        + ReplayStore
        + LoginStore
        + GrantStore
        + ConsentStore
        + OutboxStore
        + TransactionStore<OidcWrites>
        + Send
        + Sync
{
}

/// How long a client read from the store is used without reading it again. A change made on
/// another node (a registration updated or deleted) takes effect there within this time; this
/// node drops its copy at once.
const CLIENT_CACHE_SECONDS: UnixTime = 5;

/// The OpenID provider's use cases, over the identity and device slices.
#[derive(Clone)]
pub struct OidcService {
    pub(crate) ctx: Ctx,
    pub(crate) identity: IdentityService,
    pub(crate) device: DeviceService,
    /// The e-ME vault, whose fields are released as claims.
    pub(crate) eme: crate::eme::EmeService,
    pub(crate) store: Arc<dyn OidcStores>,
    /// The signing keys, to sign and verify tokens (the keys slice manages them).
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) jwks_source: Arc<dyn JwksSource>,
    pub(crate) jwks_cache: Arc<JwksCache>,
    pub(crate) logout_notifier: Arc<dyn LogoutNotifier>,
    pub(crate) ip_locator: Arc<dyn IpLocator>,
    /// Recently read clients: every token request reads its client, and they rarely change.
    pub(crate) client_cache: Arc<Mutex<HashMap<String, (UnixTime, Client)>>>,
}

impl OidcService {
    /// A registered client, from the cache if it was read in the last few seconds. Unknown ids
    /// are not cached, so strangers cannot fill the cache.
    ///
    /// A client the operator disabled is not found here: it cannot start logins, authenticate
    /// or have its tokens honoured until it is enabled again.
    pub(crate) async fn find_client(&self, id: &str) -> Result<Option<Client>, Internal> {
        let now = self.ctx.now();
        if let Ok(cache) = self.client_cache.lock()
            && let Some((at, client)) = cache.get(id)
            && now - at < CLIENT_CACHE_SECONDS
        {
            return Ok(Some(client.clone()).filter(|c| c.disabled_at.is_none()));
        }
        let client = self.store.find_client(&ClientId::from(id)).await?;
        if let (Some(client), Ok(mut cache)) = (&client, self.client_cache.lock()) {
            cache.insert(client.id.clone().into(), (now, client.clone()));
        }
        Ok(client.filter(|c| c.disabled_at.is_none()))
    }

    /// A client as stored, enabled or suspended (not deleted), for the citizen's own view of
    /// the services they linked: a suspended one is still theirs to see and unlink.
    pub(crate) async fn client_record(&self, id: &str) -> Result<Option<Client>, Internal> {
        Ok(self.store.find_client(&ClientId::from(id)).await?)
    }

    /// Forgets a cached client after it changed here.
    pub(crate) fn forget_client(&self, id: &str) {
        if let Ok(mut cache) = self.client_cache.lock() {
            cache.remove(id);
        }
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
    pub fn pairwise_subject(&self, account_id: &AccountId, client: &Client) -> String {
        self.ctx
            .secrets
            .pairwise_subject(client.sector.as_deref().unwrap_or(&client.id), account_id)
    }
}
