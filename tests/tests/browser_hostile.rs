//! The loader on a page whose markup is not all the site owner's: HTML
//! that a comment field, a CMS or a sanitizer let through, in real headless
//! Chromium under the strict CSP a careful site owner sets
//! (`script-src 'nonce-…' 'strict-dynamic'`, as web.dev recommends).
//!
//! Two attacks, one test each:
//! - DOM clobbering (CVE-2024-43788 class): `<img name="currentScript">`
//!   shadows `document.currentScript`, and an inert
//!   `<script type="text/plain" data-site src>` waits for a loader that falls
//!   back to `querySelector('script[data-site]')`. Neither may move the
//!   loader's config, banner or pixel to another host.
//! - Category scripts: under `'strict-dynamic'` any script the trusted loader
//!   inserts runs, so the loader itself must refuse tags without the page's
//!   nonce (an injected tag cannot know it), and category names every object
//!   has (`constructor`, `__proto__`, `toString`) or that no one grants.
//!
//! The "attacker's host" is the page server under its other name
//! (`http://127.0.0.1:PORT`, another origin than the page's
//! `http://localhost:PORT` and the collector's), so a request there completes
//! and shows in the page's resource timing entries. The injected `<img>`'s
//! own request (`{EVIL}/x`) is left out of that evidence: it is the markup's
//! doing, not the loader's.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::browser::{wait_until, Stack};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
/// The page's CSP nonce (fixed: the attacker does not learn it from the test).
const NONCE: &str = "k7Rq2hX9pLw4nZ1c";

/// A test page under a strict nonce CSP. `before_loader` is markup placed
/// before the loader tag, `tags` after it. `{{NONCE}}` and `{{EVIL}}` (the
/// attacker's base URL) are filled here, `{{COLLECTOR}}` and `{{SITE}}` by the
/// page server.
fn page(before_loader: &str, tags: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="script-src 'nonce-{{{{NONCE}}}}' 'strict-dynamic' 'wasm-unsafe-eval'">
<link rel="icon" href="data:,">
<title>Shop with a guest book</title>
</head>
<body>
<h1>Guest book</h1>
{before_loader}
<script nonce="{{{{NONCE}}}}">window.ktra = window.ktra || function () {{ (ktra.q = ktra.q || []).push(arguments); }};</script>
<script async nonce="{{{{NONCE}}}}" src="{{{{COLLECTOR}}}}/ktra.js" data-site="{{{{SITE}}}}"></script>
{tags}
</body>
</html>
"#
    )
    .replace("{{NONCE}}", NONCE)
}

/// Serves `html` as `/hostile.html` (and the attacker's files under
/// `/evil/`); returns the page's URL and the attacker's base URL.
fn serve(s: &Stack, html: &str) -> (String, String) {
    let evil = s.pages.other_site_url("/evil");
    s.pages.put("/hostile.html", html.replace("{{EVIL}}", &evil));
    // What the attacker's host would serve, were the loader to ask it.
    s.pages.put("/evil/ktra.js", "window.__attackerScriptRan = true;");
    s.pages.put("/evil/banner.js", "window.__attackerScriptRan = true;");
    s.pages.put("/evil/tag.js", "window.__injectedSrcTagRan = true;");
    (s.pages.url("/hostile.html"), evil)
}

/// Every resource the page requested that is neither on the page's origin
/// nor on the collector's, nor one of `markup` (what the injected markup
/// requests by itself).
async fn foreign_requests(s: &Stack, markup: &[String]) -> Vec<String> {
    let own = [format!("{}/", s.pages.origin), format!("{}/", s.collector.url)];
    s.browser
        .resources()
        .await
        .into_iter()
        .map(|r| r.url)
        .filter(|u| !own.iter().any(|o| u.starts_with(o)) && !markup.contains(u))
        .collect()
}

/// The flags category scripts set (`null`: did not run).
async fn flags(s: &Stack, names: &[&str]) -> Value {
    let list = names.iter().map(|n| format!("window.{n} ?? null")).collect::<Vec<_>>().join(", ");
    s.browser.js(&format!("return [{list}]"), vec![]).await
}

#[tokio::test]
async fn a_clobbered_current_script_does_not_move_config_banner_or_pixel_to_another_host() {
    let s = Stack::start("br_hostile_clobber", |_| {}).await;
    let b = &s.browser;
    // Both injected before the loader: an <img> that shadows
    // document.currentScript, and an inert script for a fallback query to find.
    let (url, evil) = serve(
        &s,
        &page(
            r#"<p class="comment">Nice shop! <img name="currentScript" data-site="evil-site" src="{{EVIL}}/x"></p>
<p class="comment"><script type="text/plain" data-site="evil-site" src="{{EVIL}}/ktra.js"></script></p>"#,
            r#"<script type="text/plain" data-ktra-category="marketing" nonce="{{NONCE}}">window.__marketingTagRan = true;</script>"#,
        ),
    );
    b.goto(&url).await;
    assert_eq!(
        b.js("return document.currentScript?.tagName ?? null", vec![]).await,
        "IMG",
        "the page does clobber document.currentScript"
    );

    let base = b.wait_js("the loader to run", "window.ktra && ktra._ && [ktra._.u, ktra._.s]", WAIT).await;
    assert_eq!(
        base,
        json!([s.collector.url, s.collector.site]),
        "the loader took its collector and site from its own tag, not from injected markup\n{}",
        s.console().await
    );
    s.banner_shown().await;
    b.click(&s.banner_el("[data-a=accept]").await).await;
    let (_, payload) = s.signed_consent().await;
    assert_eq!(payload["s"], s.collector.site.as_str(), "{payload}");
    s.wait_cookie("ktra_vid").await;
    assert_eq!(
        b.requested(".wasm").await,
        vec![format!("{}/pixel/ktra_pixel_bg.wasm", s.collector.url)],
        "the pixel came from the collector"
    );
    wait_until("the marketing tag to run", WAIT, || async {
        (flags(&s, &["__marketingTagRan"]).await == json!([true])).then_some(())
    })
    .await;

    let foreign = foreign_requests(&s, &[format!("{evil}/x")]).await;
    assert!(foreign.is_empty(), "requests to another host ({evil} is the attacker's): {foreign:?}");
    assert_eq!(flags(&s, &["__attackerScriptRan"]).await, json!([null]), "a script of the attacker's host ran");
}

#[tokio::test]
async fn under_a_csp_nonce_only_the_site_owners_tags_of_granted_categories_run() {
    let s = Stack::start("br_hostile_tags", |_| {}).await;
    let b = &s.browser;
    // In page order: the site owner's tags carry the nonce; injected ones
    // (inline and from the attacker's host) do not; the last ones carry the
    // nonce but name a category that is no category.
    let (url, evil) = serve(
        &s,
        &page(
            "",
            r#"<script type="text/plain" data-ktra-category="necessary" nonce="{{NONCE}}">window.__necessaryTagRan = true;</script>
<script type="text/plain" data-ktra-category="analytics" nonce="{{NONCE}}">window.__analyticsTagRan = true;</script>
<p class="comment">
<script type="text/plain" data-ktra-category="necessary">window.__injectedNecessaryRan = true;</script>
<script type="text/plain" data-ktra-category="marketing">window.__injectedInlineRan = true;</script>
<script type="text/plain" data-ktra-category="marketing" src="{{EVIL}}/tag.js"></script>
</p>
<script type="text/plain" data-ktra-category="constructor" nonce="{{NONCE}}">window.__constructorTagRan = true;</script>
<script type="text/plain" data-ktra-category="__proto__" nonce="{{NONCE}}">window.__protoTagRan = true;</script>
<script type="text/plain" data-ktra-category="toString" nonce="{{NONCE}}">window.__toStringTagRan = true;</script>
<script type="text/plain" data-ktra-category="functional" nonce="{{NONCE}}">window.__unknownCategoryRan = true;</script>
<script type="text/plain" data-ktra-category="marketing" nonce="{{NONCE}}">window.__marketingTagRan = true;</script>"#,
        ),
    );
    const OWNERS: [&str; 3] = ["__necessaryTagRan", "__analyticsTagRan", "__marketingTagRan"];
    const NEVER: [&str; 7] = [
        "__injectedNecessaryRan",
        "__injectedInlineRan",
        "__injectedSrcTagRan",
        "__constructorTagRan",
        "__protoTagRan",
        "__toStringTagRan",
        "__unknownCategoryRan",
    ];

    b.goto(&url).await;
    s.banner_shown().await;
    // Before any choice: `necessary` only, and only the site owner's.
    wait_until("the necessary tag to run", WAIT, || async {
        (flags(&s, &["__necessaryTagRan"]).await == json!([true])).then_some(())
    })
    .await;
    assert_eq!(flags(&s, &OWNERS).await, json!([true, null, null]), "before any choice");
    assert_eq!(flags(&s, &NEVER).await, Value::Array(vec![Value::Null; NEVER.len()]), "before any choice: {NEVER:?}");

    b.click(&s.banner_el("[data-a=accept]").await).await;
    s.signed_consent().await;
    wait_until("the site owner's marketing tag (the last one) to run", WAIT, || async {
        (flags(&s, &["__marketingTagRan"]).await == json!([true])).then_some(())
    })
    .await;
    assert_eq!(flags(&s, &OWNERS).await, json!([true, true, true]), "after Accept all");
    assert_eq!(
        flags(&s, &NEVER).await,
        Value::Array(vec![Value::Null; NEVER.len()]),
        "after Accept all: {NEVER:?}\n{}",
        s.console().await
    );
    let still_inert = b
        .js("return document.querySelectorAll('script[type=\"text/plain\"][data-ktra-category]').length", vec![])
        .await;
    assert_eq!(still_inert, json!(NEVER.len()), "every refused tag stays inert");
    let foreign = foreign_requests(&s, &[]).await;
    assert!(foreign.is_empty(), "requests to another host ({evil} is the attacker's): {foreign:?}");
}
