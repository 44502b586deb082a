//! The body of every refusal the API answers.

use serde::{Deserialize, Serialize};

/// The JSON body of every error: `{"code": "...", "message": "..."}`, with
/// an HTTP status (and `Retry-After` on 429 and 503). The code is stable and
/// for programs; the message is for people, in words (never Rust `Debug`
/// text, never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `stale_timestamp`, `self_approval`.
    pub code: String,
    /// What failed and what to do about it, for a person.
    pub message: String,
}
