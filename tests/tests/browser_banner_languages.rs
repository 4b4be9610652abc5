//! The banner's languages end to end, in real headless Chromium: English is
//! built into `banner.js`; every other shipped language is a text pack
//! (`consent-banner/texts/<lang>.json`, served as `/banner/<lang>.json`)
//! that the banner fetches only when it shows that language. The texts
//! shown, the language and the `text_hash` recorded are those of the pack;
//! a page's `lang` cannot make the banner fetch anything but a shipped pack.
#![allow(clippy::unwrap_used, missing_docs)]

use ktra_tests::browser::{Stack, BANNER_ROOT};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A shipped language's texts, as written in `consent-banner/texts/`, with
/// the keys in the file's order (one `"key": "text"` per line).
fn texts(lang: &str) -> Vec<(String, String)> {
    let path = format!("{}/../consent-banner/texts/{lang}.json", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    let object: serde_json::Map<String, Value> = serde_json::from_str(&source).unwrap();
    let keys = source.lines().filter_map(|l| l.trim().strip_prefix('"')?.split_once('"').map(|(k, _)| k.to_string()));
    keys.map(|k| {
        let text = object[&k].as_str().unwrap().to_string();
        (k, text)
    })
    .collect()
}

/// `text_hash` as banner.js documents it, for texts shown without a privacy
/// link and without the GPC line: SHA-256 of the JSON object of the keys
/// from title to always_on, in English's key order.
fn text_hash(shown: &[(String, String)]) -> String {
    let order = texts("en");
    let fields: Vec<String> = order
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| !["privacy", "gpc", "close", "settings"].contains(key))
        .map(|key| {
            let text = &shown.iter().find(|(k, _)| k == key).unwrap().1;
            format!("{}:{}", serde_json::json!(key), serde_json::json!(text))
        })
        .collect();
    let digest = Sha256::digest(format!("{{{}}}", fields.join(",")).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `tests/pages/consent.html` with `<html lang="{lang}">`, served as `/lang.html`.
fn serve(s: &Stack, lang: &str) -> String {
    let page = std::fs::read_to_string(format!("{}/pages/consent.html", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(page.contains("<html lang=\"en\">"));
    let lang = lang.replace('&', "&amp;").replace('"', "&quot;");
    s.pages.put("/lang.html", page.replace("<html lang=\"en\">", &format!("<html lang=\"{lang}\">")));
    s.pages.url("/lang.html")
}

/// The banner's heading and its accept button's text.
async fn shown(s: &Stack) -> (String, String) {
    let v = s
        .browser
        .js(
            &format!(
                "const r = {BANNER_ROOT}; return [r.getElementById('ktra-title').textContent, \
                 r.querySelector('[data-a=accept]').textContent]"
            ),
            vec![],
        )
        .await;
    (v[0].as_str().unwrap().to_string(), v[1].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_german_page_fetches_only_its_pack_and_records_what_it_showed() {
    let s = Stack::start("banner_lang_de", |_| {}).await;
    let b = &s.browser;
    b.goto(&serve(&s, "de-AT")).await;
    s.banner_shown().await;
    let de = texts("de");
    let text = |key: &str| de.iter().find(|(k, _)| k == key).unwrap().1.clone();
    assert_eq!(shown(&s).await, (text("title"), text("accept")), "the German pack's texts\n{}", s.console().await);
    assert_eq!(b.requested("/banner/").await.len(), 1, "one pack: {:?}", b.requested("/banner/").await);
    assert_eq!(b.requested("/banner/de.json").await.len(), 1, "the pack of de-AT's primary subtag");
    b.screenshot("banner-de-pack").await;

    b.click(&s.banner_el("[data-a=accept]").await).await;
    assert_eq!(s.ch.wait_count("SELECT count() FROM consent_log", 1, WAIT).await, 1);
    let row = &s.ch.rows("SELECT language, text_hash FROM consent_log").await[0];
    assert_eq!(row["language"], "de", "{row}");
    assert_eq!(row["text_hash"], text_hash(&de).as_str(), "the hash of the German texts shown: {row}");
}

#[tokio::test]
async fn english_and_unshipped_languages_fetch_no_pack() {
    let s = Stack::start("banner_lang_none", |_| {}).await;
    let b = &s.browser;
    let en = texts("en");
    let text = |key: &str| en.iter().find(|(k, _)| k == key).unwrap().1.clone();
    // English is built in; "it" has no texts (Chromium asks for en-US);
    // a `lang` that names a path is no language at all.
    for lang in ["en", "it", "../../v1/config/x", "de/../../ktra"] {
        b.goto(&serve(&s, lang)).await;
        s.banner_shown().await;
        assert_eq!(shown(&s).await, (text("title"), text("accept")), "lang={lang:?}: English");
        assert_eq!(b.requested("/banner/").await, Vec::<String>::new(), "lang={lang:?}: no pack fetched");
        assert_eq!(b.requested("/v1/config/x").await, Vec::<String>::new(), "lang={lang:?}");
    }
    b.click(&s.banner_el("[data-a=reject]").await).await;
    assert_eq!(s.ch.wait_count("SELECT count() FROM consent_log", 1, WAIT).await, 1);
    let row = &s.ch.rows("SELECT language, text_hash FROM consent_log").await[0];
    assert_eq!(row["language"], "en", "{row}");
    assert_eq!(row["text_hash"], text_hash(&en).as_str(), "{row}");
}
