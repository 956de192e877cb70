//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592). A developer
//! registers with an initial access token from `civpass client registration-token`, and manages
//! the client afterwards with the registration access token the answer carries.

use civpass_crypto::jws::Algorithm;
use civpass_crypto::secret::{ct_eq, hash_secret, random_token};
use serde::{Deserialize, Serialize};

use crate::kernel::ClientId;
use crate::kernel::Internal;
use crate::oidc::OidcService;
use crate::oidc::clients::ClientError;
use crate::oidc::clients::{ClientSpec, Registration};
use crate::oidc::endpoints;
use crate::oidc::model::{AuthMethod, Client, GrantType};

/// Client metadata as RFC 7591 section 2 names it (the parts civpass uses; others are
/// ignored, as section 2 allows).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    #[serde(default)]
    pub require_signed_request_object: bool,
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// civpass metadata: where Security Event Tokens are pushed (RFC 8935).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_events_push_uri: Option<String>,
    /// Logout tokens carry `sid` only when a session ended, not when a citizen with no live
    /// session unlinks a service, so `true` cannot be promised (and is refused).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// Only `pairwise` is offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<String>,
    /// `web` (the default) or `native` (OIDC Dynamic Client Registration 1.0 section 2): a
    /// native app may use private-use URI schemes and loopback redirects of any port (RFC 8252
    /// sections 7.1 and 7.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// A civpass extension: `true` treats requested `acr_values` as OIDC Core 3.1.2.1 has them,
    /// voluntary (a citizen below the level logs in at theirs, and `acr` says so); `false`, the
    /// default, refuses such a login with `unmet_authentication_requirements`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acr_values_voluntary: bool,
    /// Present in RFC 7592 updates; must be the client's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// May be present in RFC 7592 updates; must then be the client's current secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// RFC 7591 section 3.2.2 errors, and the token errors of the two protocols.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("invalid_redirect_uri: {0}")]
    InvalidRedirectUri(String),
    #[error("invalid_client_metadata: {0}")]
    InvalidMetadata(String),
    /// A missing, unknown or expired initial or registration access token.
    #[error("invalid_token")]
    InvalidToken,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<ClientError> for RegistrationError {
    fn from(e: ClientError) -> RegistrationError {
        match e {
            ClientError::InvalidRedirectUri(uri) => RegistrationError::InvalidRedirectUri(format!(
                "{uri:?} is not an acceptable redirect URI"
            )),
            ClientError::MissingRedirectUri => {
                RegistrationError::InvalidRedirectUri("the code flow needs redirect_uris".into())
            }
            ClientError::Internal(e) => RegistrationError::Internal(e),
            other => RegistrationError::InvalidMetadata(other.to_string()),
        }
    }
}

/// A registered client as the protocol returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<String>,
    pub registration_client_uri: String,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

fn invalid(text: &str) -> RegistrationError {
    RegistrationError::InvalidMetadata(text.to_owned())
}

/// The defaults of RFC 7591 section 2: Basic authentication, the code grant.
fn spec_from(metadata: &ClientMetadata) -> Result<ClientSpec, RegistrationError> {
    let name = metadata.client_name.clone().unwrap_or_else(|| "Unnamed client".to_owned());
    let mut spec = ClientSpec::web(&name, &metadata.redirect_uris);
    let method = metadata.token_endpoint_auth_method.as_deref().unwrap_or("client_secret_basic");
    spec.auth_methods = vec![
        AuthMethod::parse(method)
            .ok_or_else(|| invalid("unsupported token_endpoint_auth_method"))?,
    ];
    spec.grant_types = match &metadata.grant_types {
        None => vec![GrantType::AuthorizationCode],
        Some(list) => list
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| invalid("unsupported grant type")))
            .collect::<Result<_, _>>()?,
    };
    if let Some(types) = &metadata.response_types {
        let code_flow = spec.grant_types.contains(&GrantType::AuthorizationCode);
        let expected: &[&str] = if code_flow { &["code"] } else { &[] };
        if types.iter().map(String::as_str).collect::<Vec<_>>() != expected {
            return Err(invalid(
                "response_types must be [\"code\"] with the authorization_code grant, else empty",
            ));
        }
    }
    if let Some(alg) = &metadata.id_token_signed_response_alg {
        spec.id_token_alg = Algorithm::parse(alg)
            .ok_or_else(|| invalid("unsupported id_token_signed_response_alg"))?;
    }
    spec.jwks = metadata.jwks.as_ref().map(|j| j.to_string());
    spec.jwks_uri = metadata.jwks_uri.clone();
    // Client-credentials scopes grant access to APIs: only the operator gives them
    // (`civpass client create --scope`), never a self-registering developer.
    spec.scopes = Vec::new();
    spec.require_par = metadata.require_pushed_authorization_requests;
    spec.require_signed_request = metadata.require_signed_request_object;
    spec.require_dpop = metadata.dpop_bound_access_tokens;
    spec.post_logout_redirect_uris = metadata.post_logout_redirect_uris.clone();
    spec.backchannel_logout_uri = metadata.backchannel_logout_uri.clone();
    spec.security_events_push_uri = metadata.security_events_push_uri.clone();
    if metadata.backchannel_logout_session_required {
        // Back-Channel Logout 1.0 section 2.2: `sid` in every logout token, which an unlink
        // without a live session cannot give.
        return Err(invalid(
            "backchannel_logout_session_required is not supported: logout tokens always carry sub, and sid when a session ended",
        ));
    }
    spec.sector_identifier_uri = metadata.sector_identifier_uri.clone();
    if metadata.subject_type.as_deref().is_some_and(|t| t != "pairwise") {
        return Err(invalid("subject_type must be pairwise"));
    }
    spec.native = match metadata.application_type.as_deref() {
        None | Some("web") => false,
        Some("native") => true,
        Some(_) => return Err(invalid("application_type must be web or native")),
    };
    spec.acr_values_voluntary = metadata.acr_values_voluntary;
    Ok(spec)
}

/// The metadata a client is registered with, as the protocol shows it.
fn metadata_of(client: &Client) -> ClientMetadata {
    ClientMetadata {
        redirect_uris: client.redirect_uris.clone(),
        token_endpoint_auth_method: client.auth_methods.first().map(|m| m.as_str().to_owned()),
        grant_types: Some(client.grant_types.iter().map(|g| g.as_str().to_owned()).collect()),
        response_types: Some(if client.grant_types.contains(&GrantType::AuthorizationCode) {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        }),
        client_name: Some(client.name.clone()),
        jwks: client.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
        jwks_uri: client.jwks_uri.clone(),
        id_token_signed_response_alg: Some(client.id_token_alg.as_str().to_owned()),
        scope: (!client.scopes.is_empty()).then(|| client.scopes.join(" ")),
        require_pushed_authorization_requests: client.require_par,
        require_signed_request_object: client.require_signed_request,
        dpop_bound_access_tokens: client.require_dpop,
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: client.backchannel_logout_uri.clone(),
        security_events_push_uri: client.security_events_push_uri.clone(),
        backchannel_logout_session_required: false,
        sector_identifier_uri: client.sector_identifier_uri.clone(),
        subject_type: Some("pairwise".to_owned()),
        application_type: Some(if client.native { "native" } else { "web" }.to_owned()),
        acr_values_voluntary: client.acr_values_voluntary,
        client_id: None,
        client_secret: None,
    }
}

impl OidcService {
    /// Issues an initial access token for dynamic registration, valid for `ttl` seconds and
    /// any number of registrations until then. Shown once; stored as a hash.
    pub async fn issue_registration_token(&self, ttl: i64) -> Result<(String, i64), Internal> {
        let token = random_token(32);
        let now = self.ctx.now();
        self.store.insert_registration_token(&hash_secret(&token), now, now + ttl).await?;
        Ok((token, now + ttl))
    }

    fn registration_uri(&self, client_id: &str) -> String {
        format!("{}/{client_id}", endpoints::url(&self.ctx.settings.issuer, endpoints::REGISTER))
    }

    /// RFC 7591 section 3: registers a client with the metadata given.
    #[tracing::instrument(skip_all)]
    pub async fn register_dynamic(
        &self,
        initial_token: &str,
        metadata: &ClientMetadata,
    ) -> Result<Registered, RegistrationError> {
        let expires_at = self
            .store
            .find_registration_token(&hash_secret(initial_token))
            .await
            .map_err(Internal::from)?
            .ok_or(RegistrationError::InvalidToken)?;
        if expires_at <= self.ctx.now() {
            return Err(RegistrationError::InvalidToken);
        }
        let spec = spec_from(metadata)?;
        let access_token = random_token(32);
        let created = self.insert_client(spec, Some(hash_secret(&access_token))).await?;
        Ok(Registered {
            client_id: created.client.id.clone().into(),
            client_secret_expires_at: created.secret.as_ref().map(|_| 0),
            client_secret: created.secret,
            client_id_issued_at: created.client.created_at,
            registration_access_token: Some(access_token),
            registration_client_uri: self.registration_uri(&created.client.id),
            metadata: metadata_of(&created.client),
        })
    }

    /// The client that `token` manages (RFC 7592 section 2).
    async fn managed_client(
        &self,
        client_id: &str,
        token: &str,
    ) -> Result<Client, RegistrationError> {
        let client = self
            .store
            .find_client(&ClientId::from(client_id))
            .await
            .map_err(Internal::from)?
            .ok_or(RegistrationError::InvalidToken)?;
        match &client.registration_token_hash {
            Some(stored) if ct_eq(stored, &hash_secret(token)) => Ok(client),
            _ => Err(RegistrationError::InvalidToken),
        }
    }

    /// RFC 7592 section 2.1: the client's current registration.
    pub async fn read_registration(
        &self,
        client_id: &str,
        token: &str,
    ) -> Result<Registered, RegistrationError> {
        let client = self.managed_client(client_id, token).await?;
        Ok(Registered {
            client_id: client.id.clone().into(),
            client_secret: None,
            client_secret_expires_at: client.secret_hash.as_ref().map(|_| 0),
            client_id_issued_at: client.created_at,
            registration_access_token: None,
            registration_client_uri: self.registration_uri(&client.id),
            metadata: metadata_of(&client),
        })
    }

    /// RFC 7592 section 2.2: replaces the client's metadata. The secret stays (a new one is
    /// issued only if the client moves to a secret method from one without); the registration
    /// access token is rotated.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn update_registration(
        &self,
        client_id: &str,
        token: &str,
        metadata: &ClientMetadata,
    ) -> Result<Registered, RegistrationError> {
        let old = self.managed_client(client_id, token).await?;
        if metadata.client_id.as_deref() != Some(client_id) {
            return Err(invalid("client_id must be given and be this client's"));
        }
        if let Some(given) = &metadata.client_secret
            && !old.secret_hash.as_ref().is_some_and(|h| ct_eq(h, &hash_secret(given)))
        {
            return Err(invalid("client_secret is not this client's"));
        }
        let spec = spec_from(metadata)?;
        self.check_spec(&spec)?;
        let sector = self.sector_of(&spec).await?;
        // Subjects must not change under the services that know them.
        if sector != old.sector {
            return Err(invalid("the sector (sector_identifier_uri host) cannot change"));
        }
        let wants_secret = spec.auth_methods.iter().any(|m| m.uses_secret());
        let new_secret = (wants_secret && old.secret_hash.is_none()).then(|| random_token(32));
        let access_token = random_token(32);
        let secret_hash = if wants_secret {
            new_secret.as_deref().map(hash_secret).or(old.secret_hash.clone())
        } else {
            None
        };
        let mut client = spec.into_client(Registration {
            id: old.id.clone().into(),
            secret_hash,
            registration_token_hash: Some(hash_secret(&access_token)),
            sector,
            created_at: old.created_at,
        });
        // Only the operator enables a client they disabled.
        client.disabled_at = old.disabled_at;
        if !self.store.update_client(&client).await.map_err(Internal::from)? {
            return Err(RegistrationError::InvalidToken);
        }
        self.forget_client(client_id);
        tracing::info!(client_id, "client registration updated");
        Ok(Registered {
            client_id: client.id.clone().into(),
            client_secret_expires_at: client.secret_hash.as_ref().map(|_| 0),
            client_secret: new_secret,
            client_id_issued_at: client.created_at,
            registration_access_token: Some(access_token),
            registration_client_uri: self.registration_uri(&client.id),
            metadata: metadata_of(&client),
        })
    }

    /// RFC 7592 section 2.3: deletes the client; its grants are revoked with it.
    #[tracing::instrument(skip_all, fields(client_id))]
    pub async fn delete_registration(
        &self,
        client_id: &str,
        token: &str,
    ) -> Result<(), RegistrationError> {
        self.managed_client(client_id, token).await?;
        if !self.remove_client(client_id).await? {
            return Err(RegistrationError::InvalidToken);
        }
        tracing::info!(client_id, "client deleted by its developer");
        Ok(())
    }
}
