//! The OpenAPI document for the device API, generated from the handlers and wire types.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "civpass device API", version = "1", description = "What the civpass app and `civpass wallet` speak. OpenID Connect endpoints are described by /.well-known/openid-configuration."),
    paths(
        crate::routes::device::configuration,
        crate::routes::device::start_identity_check,
        crate::routes::device::enrol,
        crate::routes::device::start_registration,
        crate::routes::device::finish_registration,
        crate::routes::device::view,
        crate::routes::device::decision_challenge,
        crate::routes::device::decide,
        crate::routes::counter::registration_code,
        crate::routes::counter::pending,
        crate::routes::counter::confirm,
        crate::routes::counter::kiosk_act,
        crate::routes::counter::my_registration_code,
        crate::routes::counter::my_pending,
        crate::routes::counter::my_confirm_challenge,
        crate::routes::counter::my_confirm,
        crate::routes::counter::start_counter_passkey,
        crate::routes::counter::finish_counter_passkey,
        crate::routes::counter::new_passkey_pending,
        crate::routes::counter::new_passkey_challenge,
        crate::routes::counter::new_passkey_confirm,
        crate::routes::account::session_challenge,
        crate::routes::account::open_session,
        crate::routes::account::my_data,
        crate::routes::account::services,
        crate::routes::account::unlink,
        crate::routes::account::receipt,
        crate::routes::account::fillings,
        crate::routes::account::devices,
        crate::routes::account::revoke_device,
        crate::routes::account::history,
        crate::routes::account::upgrade,
        crate::routes::eme::show,
        crate::routes::eme::change,
        crate::routes::eme::remove,
        crate::routes::eme::verify_email,
        crate::routes::eme::confirm_email,
        crate::routes::eme::verify_phone,
        crate::routes::eme::confirm_phone,
        crate::routes::eme::upload_proof,
        crate::routes::eme::download_proof,
        crate::routes::eme::delete_proof,
        crate::routes::signing::verify,
        crate::routes::signing::create_request,
        crate::routes::signing::request_status,
        crate::routes::signing::device_view,
        crate::routes::signing::device_decide,
    ),
    modifiers(&AppSessionAuth),
    tags(
        (name = "device", description = "Registration and login approval from the citizen's device"),
        (name = "account", description = "The citizen's own account: identity data held, linked services, unlinking"),
        (name = "signing", description = "Signatures with legal effect: checking a detached signature against the platform's root CA")
    )
)]
struct ApiDoc;

/// The `/me` endpoints take the app session token as a bearer token.
struct AppSessionAuth;

impl utoipa::Modify for AppSessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "app_session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
