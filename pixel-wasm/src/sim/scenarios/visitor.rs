//! Scenarios: the visitor and session cookies and the first page view.
use crate::sim::*;

#[test]
fn first_page_view_batch_matches_the_cookies() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    let batches = b.batches();
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    assert_eq!(batch.site, SITE);
    assert_eq!(batch.consent.as_deref(), Some(TOKEN));
    let vid_cookie = b.cookie(VID).unwrap();
    assert_eq!(vid_cookie, format!("{}.{}", batch.vid, T0 as u64 / 1000), "<uuid>.<created unix s>");
    assert_eq!(b.cookie(SID).as_deref(), Some(batch.sid.as_str()));
    assert!(batch.utm.is_none() && batch.ec.is_none());
    assert_eq!(b.page().storage.clone().unwrap(), format!("{}\n\n", batch.sid));
    let pv = &batch.events[0];
    assert_eq!(kinds_of(batch), ["page_view"]);
    assert_eq!(pv.url.as_deref(), Some(LANDING));
    assert_eq!(pv.referrer.as_deref(), Some(REFERRER));
    assert_eq!(pv.title.as_deref(), Some("Landing"));
    assert_eq!(pv.ts, Some(T0 as i64));
    // host-only, Path=/, SameSite=Lax, Secure on https
    let w = b.last_write(VID);
    assert_eq!(w, format!("ktra_vid={vid_cookie}; Path=/; Max-Age={}; SameSite=Lax; Secure", 180 * 86_400));
    assert_eq!(b.last_write(SID), format!("ktra_sid={}; Path=/; Max-Age=1800; SameSite=Lax; Secure", batch.sid));
}

#[test]
fn http_pages_get_cookies_without_secure() {
    let mut b = Browser::booted("http://shop.example/");
    assert!(b.cookie(VID).is_some() && b.cookie(SID).is_some());
    assert!(!b.last_write(SID).contains("Secure"));
    b.stop();
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());
}

#[test]
fn visitor_cookie_lives_until_consent_expiry_at_most_390_days_and_is_not_extended() {
    let now_s = (T0 / 1000.0).floor();
    let mut b = Browser::at(LANDING);
    b.exp_s = now_s + 30.0 * DAY_S;
    b.boot();
    assert_eq!(b.max_age(VID), 30 * 86_400, "consent ends first");

    let mut b = Browser::at(LANDING);
    b.exp_s = now_s + 1000.0 * DAY_S;
    b.boot();
    assert_eq!(b.max_age(VID), VID_LIFE_S, "390 days end first");
    let vid = b.vid();

    // Back 100 days later: same visitor, the cookie not extended.
    b.leave();
    b.advance(100.0 * DAY_S * 1000.0);
    b.boot();
    assert_eq!(b.vid(), vid);
    assert_eq!(b.max_age(VID), VID_LIFE_S - 100 * 86_400);
    assert!(b.cookie(VID).unwrap().ends_with(&format!(".{}", now_s as u64)));

    // After 391 days the cookie is gone: a new visitor.
    b.leave();
    b.advance(291.0 * DAY_S * 1000.0);
    b.boot();
    assert_ne!(b.vid(), vid);
    assert_eq!(b.max_age(VID), VID_LIFE_S);
}

#[test]
fn session_cookie_lives_30_minutes_never_past_consent_and_is_refreshed_once_a_minute() {
    let mut b = Browser::booted(LANDING);
    assert_eq!(b.max_age(SID), 1800);
    let sid_writes = |b: &Browser| b.page().cookie_writes.iter().filter(|w| w.starts_with("ktra_sid=")).count();
    assert_eq!(sid_writes(&b), 1);
    b.advance(30_000.0);
    b.input();
    assert_eq!(sid_writes(&b), 1, "not again within a minute");
    b.advance(31_000.0);
    b.input();
    assert_eq!(sid_writes(&b), 2, "re-set after a minute of activity");
    assert_eq!(b.max_age(SID), 1800);

    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 600.0;
    b.boot();
    assert_eq!(b.max_age(SID), 600, "never past the consent");
    assert_eq!(b.max_age(VID), 600);
}

#[test]
fn ids_are_unique_v4_uuids() {
    let mut b = Browser::booted(LANDING);
    for _ in 0..25 {
        b.track_named("t");
    }
    b.page().doc_h = 500.0; // all scroll depths
    b.scroll_to(0.0);
    b.advance(1_000.0);
    b.deliver_all();
    b.pagehide();
    let events = b.events();
    assert!(events.len() > 30);
    let batch = &b.batches()[0];
    let mut ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    ids.push(batch.vid.clone());
    ids.push(batch.sid.clone());
    for id in &ids {
        assert!(is_v4_uuid(id), "{id}");
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "ids repeat");
}
