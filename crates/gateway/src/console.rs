//! The web console, served at `/console` from files embedded in this binary
//! (bundled at build time from `console/` by `build.rs` with the pinned
//! esbuild of `tools/package.json`). Static files only: every call the
//! console makes is an ordinary signed API request, so serving it gives the
//! gateway no authority.
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles and
//! connections from this origin only (no inline script or style, no CDN, no
//! external font, no frames, no plugins, no form posts), plus `nosniff`, no
//! referrer and no caching of the page. What it does not do: the code is the
//! gateway's, so a compromised gateway *host* could serve altered code; the
//! console's own checks stop a tampering relay between the two, and a
//! hardware wallet shows every field it signs whatever the page does.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

/// The Content-Security-Policy of every console answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                       font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn file(name: &str) -> Response {
    let Some((_, ty, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such file in the console").into_response();
    };
    let mut res = (*bytes).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ty));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `/console` (redirects to `/console/`), `/console/` and its files. Served
/// without the API's authentication: the files are public, the API is not.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", axum::routing::get(|| async { Redirect::to("/console/") }))
        .route("/console", axum::routing::get(|| async { Redirect::to("/console/") }))
        .route("/console/", axum::routing::get(|| async { file("index.html") }))
        .route("/console/{name}", axum::routing::get(|Path(name): Path<String>| async move { file(&name) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_embedded_and_loads_only_from_its_own_origin() {
        let index = FILES.iter().find(|(n, _, _)| *n == "index.html").map(|(_, _, b)| *b).unwrap_or_default();
        let index = String::from_utf8_lossy(index);
        assert!(index.contains(r#"<script type="module" src="console.js"></script>"#));
        assert!(!index.contains("http://") && !index.contains("https://"), "no external origin in the page");
        assert!(!index.contains("<script>") && !index.contains("style="), "no inline script or style");
        let js = FILES.iter().find(|(n, _, _)| *n == "console.js").map_or(0, |(_, _, b)| b.len());
        assert!(js > 10_000, "the bundle holds the console and its libraries");
        assert!(CSP.contains("script-src 'self';") && !CSP.contains("unsafe"));
    }
}
