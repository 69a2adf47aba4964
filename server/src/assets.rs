//! The built front end under `/pkg` (WASM, JS, CSS): the brotli or gzip file the release build
//! made next to each one (`cargo leptos build --release --precompress`) when the browser takes
//! it, and caching that fits the names: content-hashed names (`hash-files`) never change their
//! bytes, so browsers keep them for a year without asking again; unhashed names (a debug build)
//! are revalidated on every use.

use axum::response::Response;
use axum::Router;
use http::{header, HeaderValue};
use tower_http::services::ServeDir;

/// `Cache-Control` for a file whose name carries a hash of its content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for a file whose name stays the same across builds.
pub const REVALIDATE: &str = "no-cache";

/// How `/pkg` files may be cached: for a year when their names are content-hashed.
pub fn cache_control(hashed_names: bool) -> &'static str {
    if hashed_names {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// The `/pkg` service over `{site_root}/{pkg_dir}`.
pub fn router(site_root: &str, pkg_dir: &str, hashed_names: bool) -> Router {
    let files = ServeDir::new(std::path::Path::new(site_root).join(pkg_dir))
        .precompressed_br()
        .precompressed_gzip();
    let caching = HeaderValue::from_static(cache_control(hashed_names));
    Router::new()
        .fallback_service(files)
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let caching = caching.clone();
                async move {
                    if response.status().is_success()
                        || response.status() == http::StatusCode::NOT_MODIFIED
                    {
                        let headers = response.headers_mut();
                        headers.insert(header::CACHE_CONTROL, caching);
                        // The same URL answers brotli, gzip or plain bytes: a shared cache
                        // must keep them apart.
                        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
                    }
                    response
                }
            },
        ))
}
