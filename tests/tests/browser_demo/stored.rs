//! The walk-through as stored in ClickHouse: every event once, one visitor,
//! one session, the landing campaign and the email click on each, nothing
//! typed into a form, the purchase as the thank-you page reported it.
use super::{text, LEAD, MESSAGE, PAGES, TYPED_EMAIL, TYPED_NAME, VALUE};
use ktra_tests::browser::Stack;
use ktra_tests::num;
use serde_json::Value;
use std::collections::BTreeSet;

/// The events of the walk, as stored.
pub async fn check(s: &Stack, vid: &str, sid: &str, ec: &str, order_id: &str, grant: &Value) {
    let rows = s
        .ch
        .rows(
            "SELECT toString(event_id) AS id, event_type, visitor_id, session_id, consent_id, path, utm_source, utm_medium, \
             utm_campaign, email_click_id, form_id, video_id, video_percent, order_id, revenue, currency, product_id, lead_id, \
             is_bot, browser, device FROM events ORDER BY ts_ms",
        )
        .await;
    let listing =
        rows.iter().map(|r| format!("{} {} {}", r["event_type"], r["path"], r["id"])).collect::<Vec<_>>().join("\n");
    let of = |t: &str| rows.iter().filter(|r| r["event_type"] == t).collect::<Vec<_>>();
    let ids: BTreeSet<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rows.len(), "an event stored twice:\n{listing}");

    let views: Vec<&str> = of("page_view").iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(views, PAGES, "page views, in order:\n{listing}");
    for r in &rows {
        let what = format!("{} {}", r["event_type"], r["path"]);
        assert_eq!(r["visitor_id"], vid, "{what}: one visitor across the walk (ktra_vid)");
        assert_eq!(r["session_id"], sid, "{what}: one session (ktra_sid)");
        assert_eq!(r["consent_id"], grant["c"], "{what}: the consent given");
        assert_eq!(
            (r["utm_source"].as_str(), r["utm_medium"].as_str(), r["utm_campaign"].as_str()),
            (Some("newsletter"), Some("email"), Some(MESSAGE)),
            "{what}: the landing campaign, kept for the session"
        );
        assert_eq!(r["email_click_id"], ec, "{what}: the email click");
        assert_eq!(
            (num(&r["is_bot"]), r["browser"].as_str(), r["device"].as_str()),
            (0.0, Some("Chrome"), Some("desktop")),
            "{what}"
        );
    }
    assert_eq!(of("email_click").len(), 1, "the email click event:\n{listing}");
    let click =
        s.ch.rows(&format!("SELECT lead_id, message_id, is_bot FROM email_clicks FINAL WHERE click_id = '{ec}'")).await;
    assert_eq!(click.len(), 1, "the click the redirect recorded (ktra_ec {ec})");
    assert_eq!(
        (click[0]["lead_id"].as_str(), click[0]["message_id"].as_str(), num(&click[0]["is_bot"])),
        (Some(LEAD), Some(MESSAGE), 0.0)
    );

    let who = of("identify");
    assert_eq!(who.len(), 1, "identify:\n{listing}");
    let lead = who[0]["lead_id"].as_str().unwrap();
    assert!(
        !lead.is_empty() && !lead.contains('@') && !lead.to_lowercase().contains("walkthrough"),
        "identify stores a hash of the address, not the address: {lead:?}"
    );
    assert!(of("form_submit").iter().any(|r| r["form_id"] == "lead-form"), "the newsletter form's submit:\n{listing}");
    let dump = s.ch.exec("SELECT * FROM events FORMAT JSONEachRow").await.unwrap().to_lowercase();
    for typed in [TYPED_EMAIL, TYPED_NAME, "ada@example.com", "4242 4242", "riverside lane"] {
        assert!(!dump.contains(&typed.to_lowercase()), "something typed into a form reached ClickHouse: {typed}");
    }

    let video: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| r["event_type"].as_str().unwrap().starts_with("video_"))
        .map(|r| {
            assert_eq!(r["video_id"], "studio-tour", "{r}");
            assert_eq!(r["path"], "/video.html", "{r}");
            (text(&r["event_type"]), num(&r["video_percent"]))
        })
        .collect();
    let kinds: Vec<&str> = video.iter().map(|v| v.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["video_start", "video_progress", "video_progress", "video_progress", "video_complete"],
        "{video:?}"
    );
    let marks: Vec<f64> = video.iter().filter(|v| v.0 == "video_progress").map(|v| v.1).collect();
    assert_eq!(marks, [25.0, 50.0, 75.0], "{video:?}");

    let buy = of("purchase");
    assert_eq!(buy.len(), 1, "purchases:\n{listing}");
    assert_eq!(
        (
            buy[0]["order_id"].as_str(),
            num(&buy[0]["revenue"]),
            buy[0]["currency"].as_str(),
            buy[0]["product_id"].as_str(),
            buy[0]["path"].as_str()
        ),
        (Some(order_id), VALUE, Some("EUR"), Some("mug-fieldnote"), Some("/thanks.html")),
        "{}",
        buy[0]
    );
}
