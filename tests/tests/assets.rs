//! The browser assets as the collector serves them: types, encodings, cache
//! and cross-origin headers, and the request counters the consent tests rely on.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::*;

fn web_dir() -> std::path::PathBuf {
    let d = std::path::PathBuf::from(
        std::env::var("KTRA_WEB_DIR")
            .expect("KTRA_WEB_DIR is not set: run `cargo xtask test` (or `cargo xtask build-web`)"),
    );
    assert!(d.join("ktra.js").is_file(), "{} has no ktra.js: run `cargo xtask build-web`", d.display());
    d
}

#[tokio::test]
async fn assets_have_their_types_encodings_and_headers() {
    let ch = Ch::fresh("assets").await;
    let mut cfg = test_config(&ch);
    let dir = web_dir();
    cfg.assets_dir = Some(dir.clone());
    let c = TestCollector::start(cfg).await;
    // reqwest without compression features sends no Accept-Encoding; set it by hand.
    let get = |path: &str, enc: &str| {
        let mut r = c.http.get(format!("{}{path}", c.url));
        if !enc.is_empty() {
            r = r.header("accept-encoding", enc);
        }
        r.send()
    };
    let wasm = get("/pixel/ktra_pixel_bg.wasm", "br, gzip").await.unwrap();
    assert_eq!(wasm.status(), 200);
    let h = wasm.headers().clone();
    assert_eq!(h["content-type"], "application/wasm");
    assert_eq!(h["content-encoding"], "br");
    assert_eq!(h["cache-control"], "public, max-age=3600");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["timing-allow-origin"], "*");
    assert_eq!(h["cross-origin-resource-policy"], "cross-origin");
    let body = wasm.bytes().await.unwrap();
    assert_eq!(
        body,
        std::fs::read(dir.join("pixel/ktra_pixel_bg.wasm.br")).unwrap(),
        "the precompressed file is served"
    );

    let gz = get("/ktra.js", "gzip").await.unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["cache-control"], "public, max-age=300", "the loader is short-lived");
    assert!(gz.headers()["content-type"].to_str().unwrap().contains("javascript"));

    let plain = get("/banner.css", "").await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(plain.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(plain.bytes().await.unwrap(), std::fs::read(dir.join("banner.css")).unwrap());

    assert_eq!(get("/pixel/nope.wasm", "").await.unwrap().status(), 404);

    // A revalidation (304) keeps the cross-origin headers, or the browser's CORS check fails.
    let first = get("/pixel/ktra_pixel.js", "").await.unwrap();
    let modified = first.headers()["last-modified"].clone();
    let again = c.http.get(format!("{}/pixel/ktra_pixel.js", c.url)).header("if-modified-since", modified);
    let again = again.send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["access-control-allow-origin"], "*");

    // The dashboard holds the admin key: only its own files run, and it is never framed.
    let dash = get("/dashboard/", "").await.unwrap();
    assert_eq!(dash.status(), 200);
    let csp = dash.headers()["content-security-policy"].to_str().unwrap().to_string();
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(dash.headers()["x-frame-options"], "DENY");
    assert!(dash.headers().get("access-control-allow-origin").is_none());
    let m = c.metrics().await;
    assert!(metric(&m, "ktra_asset_requests_total", &[("asset", "pixel_wasm")]) >= 2.0);
    assert!(metric(&m, "ktra_asset_requests_total", &[("asset", "loader")]) >= 1.0);
    c.stop().await;
}
