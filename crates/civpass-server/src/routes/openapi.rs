//! The OpenAPI document for the device API, generated from the handlers and wire types.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "civpass device API", version = "1", description = "What the civpass app and `civpass wallet` speak. OpenID Connect endpoints are described by /.well-known/openid-configuration."),
    paths(crate::routes::device::enrol, crate::routes::device::view, crate::routes::device::decide),
    tags((name = "device", description = "Registration and login approval from the citizen's device"))
)]
struct ApiDoc;

pub fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
