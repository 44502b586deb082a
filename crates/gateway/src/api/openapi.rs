//! The OpenAPI document: its fixed parts here, its paths from the router
//! (so nothing is served undocumented), its schemas from box-api's types.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

/// The OpenAPI document's fixed parts; paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "BOX gateway API",
        version = "1",
        description = "The HTTPS API of box-gateway, BOX's untrusted relay between the apps and the private chain.\n\n\
Authentication: every call except /v1/openapi.json, /v1/deployment, /v1/health, /v1/typed-data and the keystore claim \
(POST /v1/people/{address}/keystore/claim, proven by its download token) carries the headers \
X-Box-Signer (address), X-Box-Timestamp (Unix seconds), X-Box-Nonce (0x + 64 hex, never reused) and X-Box-Signature \
(65-byte signature, 0x hex) over the EIP-712 struct ApiRequest(string method,string path,bytes32 bodyHash,uint64 timestamp,bytes32 nonce) \
under the deployment's BOX domain (see /v1/deployment); bodyHash is keccak256 of the exact body bytes and path includes the query string.\n\n\
Errors are JSON {code, message}: 400 malformed_json / invalid_body / invalid_field; 401 missing_credentials / \
malformed_credentials / stale_timestamp / bad_signature; 403 role_required, self_approval, not_an_approver, separation_of_duties; \
404; 409 nonce_reused and state conflicts; 413 body_too_large; 415 unsupported_media_type (bodies are application/json only); \
422 rule refusals; 429 rate_limited / source_throttled (Retry-After); 503 chain_unavailable (Retry-After).\n\n\
Limits: requests are rate-limited per client IP and per signer. A bad signature or a wrong download token counts \
against the client IP it came from, never against the address it names (a failure proves no identity): too many \
within a window throttle that IP (429 source_throttled). A key holder's pause (POST /v1/governance with \
PauseTransfers paused=true) and panic (POST /v1/ceremony/messages with purpose panic) pass every limit, so no third \
party can block them; they are still verified like every other request."
    ),
    modifiers(&Security),
    tags(
        (name = "people", description = "People, roles and key escrow"),
        (name = "flows", description = "Approval flows, key-holder authorizations and governance"),
        (name = "transfers", description = "Applications and nested approvals"),
        (name = "status", description = "Deployment, cluster, gateway status and audit export"),
        (name = "ceremony", description = "Key-ceremony relay, signer and wallet status")
    )
)]
pub(super) struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, header) in [
            ("box_signer", "X-Box-Signer"),
            ("box_timestamp", "X-Box-Timestamp"),
            ("box_nonce", "X-Box-Nonce"),
            ("box_signature", "X-Box-Signature"),
        ] {
            components.add_security_scheme(name, SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(header))));
        }
    }
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = super::routes();
    // The document is served at a path of its own.
    doc.paths.paths.insert(
        "/v1/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .operation_id(Some("openapi"))
                .tag("status")
                .summary(Some("This OpenAPI 3 document"))
                .response("200", utoipa::openapi::ResponseBuilder::new().description("The document").build())
                .build(),
        ),
    );
    doc
}
