//! How the front end travels: the WASM/JS/CSS as the release build precompressed them, cached for
//! good when their names are content-hashed; pages compressed on the way; the live stream never.

use std::path::{Path, PathBuf};

use crate::helpers::{spawn_app_with, TestApp, TestDb};

const HASHED: &str = "advicly.Zm9vYmFy.wasm";

/// A built site as `cargo leptos build --release --precompress` leaves it: each file with its
/// brotli and gzip twins (their bytes here only tell which one was sent).
fn site() -> PathBuf {
    let root = std::env::temp_dir().join(format!("advicly-site-{}", uuid::Uuid::new_v4()));
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for name in [HASHED, "advicly.wasm"] {
        std::fs::write(pkg.join(name), b"\0asm raw bytes").unwrap();
        std::fs::write(pkg.join(format!("{name}.br")), b"brotli bytes").unwrap();
        std::fs::write(pkg.join(format!("{name}.gz")), b"gzip bytes").unwrap();
    }
    root
}

/// An instance whose Leptos.toml says whether the build hashes file names.
async fn serving(site: &Path, hash_files: bool) -> TestApp {
    let config = site.join("Leptos.toml");
    std::fs::write(
        &config,
        format!(
            "[package.metadata.leptos]\noutput-name = \"advicly\"\nsite-root = {:?}\nsite-pkg-dir = \"pkg\"\nhash-files = {hash_files}\n",
            site.display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    spawn_app_with(TestDb::Sqlite, calendly_sim::SimConfig::default(), |vars| {
        vars.insert("LEPTOS_CONFIG".into(), config);
    })
    .await
}

async fn fetch(app: &TestApp, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(accepted) = accept_encoding {
        request = request.header("accept-encoding", accepted);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wasm_is_sent_precompressed_as_the_browser_accepts_and_hashed_names_are_kept_for_a_year(
) {
    let site = site();
    let app = serving(&site, true).await;
    let path = format!("/pkg/{HASHED}");

    let brotli = fetch(&app, &path, Some("gzip, deflate, br")).await;
    assert_eq!(brotli.status(), 200);
    assert_eq!(header(&brotli, "content-encoding"), "br");
    assert_eq!(header(&brotli, "content-type"), "application/wasm");
    assert_eq!(header(&brotli, "cache-control"), server::assets::IMMUTABLE);
    assert!(header(&brotli, "vary")
        .to_ascii_lowercase()
        .contains("accept-encoding"));
    assert_eq!(brotli.bytes().await.unwrap().as_ref(), b"brotli bytes");

    let gzip = fetch(&app, &path, Some("gzip")).await;
    assert_eq!(header(&gzip, "content-encoding"), "gzip");
    assert_eq!(gzip.bytes().await.unwrap().as_ref(), b"gzip bytes");

    let plain = fetch(&app, &path, None).await;
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(plain.bytes().await.unwrap().as_ref(), b"\0asm raw bytes");

    let missing = fetch(&app, "/pkg/advicly.b2xkZXI.wasm", Some("br")).await;
    assert_eq!(missing.status(), 404);
    assert_ne!(
        header(&missing, "cache-control"),
        server::assets::IMMUTABLE,
        "a 404 must not stick for a year"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_whose_names_do_not_change_with_their_content_are_revalidated() {
    let site = site();
    let app = serving(&site, false).await;
    let response = fetch(&app, "/pkg/advicly.wasm", Some("br")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "cache-control"),
        server::assets::REVALIDATE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_compressed_for_browsers_that_accept_it_but_the_live_stream_never_is() {
    let site = site();
    let app = serving(&site, false).await;
    let page = fetch(&app, "/login", Some("gzip")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-encoding"), "gzip");
    let body = page.bytes().await.unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");

    let plain = fetch(&app, "/login", None).await;
    assert_eq!(header(&plain, "content-encoding"), "");
    assert!(plain.text().await.unwrap().contains("Sign in"));

    // Compressing an event stream would hold each change back in the compressor's buffer.
    let adviser = app.new_adviser().await;
    let stream = adviser
        .client
        .get(app.url("/api/meetings/stream"))
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(header(&stream, "content-encoding"), "");
}
