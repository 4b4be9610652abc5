//! Scenarios: sessions across page loads, campaigns, tabs and idle time.
use crate::sim::*;

const CAMPAIGN: &str = "https://shop.example/?utm_source=news&utm_medium=email";

#[test]
fn the_session_and_its_campaign_continue_on_the_next_page_load() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);
    assert_eq!(first.utm.as_ref().unwrap().source.as_deref(), Some("news"));

    b.advance(5.0 * MIN);
    b.open("https://shop.example/next");
    b.advance(1_000.0);
    let next = b.batches().pop().unwrap();
    assert_eq!((&next.vid, &next.sid), (&first.vid, &first.sid));
    assert_eq!(next.utm, first.utm, "the campaign comes from storage");
    let pv = &next.events[0];
    assert_eq!(pv.referrer.as_deref(), Some(CAMPAIGN));

    // A reload of the campaign landing continues it too.
    b.advance(MIN);
    b.open(CAMPAIGN);
    b.advance(1_000.0);
    assert_eq!(b.batches().pop().unwrap().sid, first.sid);
}

#[test]
fn a_landing_with_another_campaign_starts_a_new_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    let first = b.batches().remove(0);
    for (url, source, gclid) in [
        ("https://shop.example/?utm_source=ads", Some("ads"), None),
        ("https://shop.example/p?gclid=G1", None, Some("G1")),
    ] {
        b.advance(MIN);
        b.open(url);
        b.advance(1_000.0);
        let batch = b.batches().pop().unwrap();
        assert_ne!(batch.sid, first.sid, "{url}");
        assert_eq!(batch.vid, first.vid);
        let utm = batch.utm.unwrap();
        assert_eq!((utm.source.as_deref(), utm.gclid.as_deref()), (source, gclid));
        assert!(b.page().storage.clone().unwrap().starts_with(&batch.sid));
    }
}

#[test]
fn a_new_email_click_starts_a_new_session() {
    let mut b = Browser::booted("https://shop.example/?ktra_ec=E1");
    b.advance(1_000.0);
    let first = b.batches().remove(0);
    assert_eq!(first.ec.as_deref(), Some("E1"));
    b.advance(MIN);
    b.open("https://shop.example/?ktra_ec=E2");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_ne!(batch.sid, first.sid);
    assert_eq!(batch.ec.as_deref(), Some("E2"));
    let clicks: Vec<String> = b.of_kind("email_click").into_iter().map(|e| e.click_id.unwrap()).collect();
    assert_eq!(clicks, ["E1", "E2"]);
}

#[test]
fn thirty_minutes_without_activity_start_a_new_session_without_campaign() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);

    // 29 minutes: the same session.
    b.advance(29.0 * MIN);
    b.input();
    b.track_named("still");
    b.advance(1_000.0);
    b.deliver_all();
    let batch = b.batches().pop().unwrap();
    assert_eq!(batch.sid, first.sid);
    assert!(batch.utm.is_some());

    // 31 more: a new one, direct.
    b.advance(31.0 * MIN);
    b.input();
    b.track_named("back");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_ne!(batch.sid, first.sid);
    assert_eq!(batch.vid, first.vid);
    assert!(batch.utm.is_none() && batch.ec.is_none());
    assert_eq!(b.cookie(SID).as_deref(), Some(batch.sid.as_str()));
    assert_eq!(b.page().storage.clone().unwrap(), format!("{}\n\n", batch.sid));
}

#[test]
fn a_page_load_after_the_session_expired_starts_a_new_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    let first = b.batches().remove(0);
    b.leave();
    b.advance(31.0 * MIN);
    b.open("https://shop.example/again");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_ne!(batch.sid, first.sid);
    assert_eq!(batch.vid, first.vid);
    assert!(batch.utm.is_none(), "the old campaign is not carried over");
}

#[test]
fn a_session_another_tab_started_is_followed() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    // Another tab landed from an ad: its session in the cookie and storage.
    let other = "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
    {
        let mut p = b.page();
        p.write_cookie(&format!("ktra_sid={other}; Path=/; Max-Age=1800; SameSite=Lax; Secure"));
        p.storage = Some(format!("{other}\nE9\n{{\"source\":\"ads\"}}"));
    }
    b.advance(61_000.0);
    b.input();
    b.track_named("here");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_eq!(batch.sid, other);
    assert_eq!(batch.ec.as_deref(), Some("E9"));
    assert_eq!(batch.utm.unwrap().source.as_deref(), Some("ads"));
    assert_eq!(b.cookie(SID).as_deref(), Some(other));
}

/// The visitor withdraws in another tab: that tab's `stop()` deletes
/// `ktra_vid` and `ktra_sid`. This tab's pixel, on its next activity, must
/// not set them again: it stops and sends nothing more.
#[test]
fn a_withdrawal_in_another_tab_stops_this_tab_without_setting_cookies_again() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    {
        let mut p = b.page();
        p.write_cookie("ktra_vid=; Path=/; Max-Age=0; SameSite=Lax; Secure");
        p.write_cookie("ktra_sid=; Path=/; Max-Age=0; SameSite=Lax; Secure");
    }
    let sent = b.sent().len();
    b.advance(61_000.0);
    b.input();
    b.track_named("after the withdrawal elsewhere");
    b.advance(5_000.0);
    assert!(!b.running(), "the pixel stopped");
    assert_eq!(b.cookie(VID), None);
    assert_eq!(b.cookie(SID), None);
    assert_eq!(b.sent().len(), sent, "nothing sent after the withdrawal");
}

/// Tab A sits in the background for 35 minutes while the visitor keeps
/// browsing in tab B, whose pixel keeps `ktra_sid` alive. Back in tab A it
/// is the same visit: the session must go on.
#[test]
fn an_idle_tab_joins_the_session_another_tab_kept_alive() {
    let mut b = Browser::booted(CAMPAIGN);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);
    for _ in 0..7 {
        b.advance(5.0 * MIN);
        // Tab B's pixel refreshing the shared session cookie.
        let w = format!("ktra_sid={}; Path=/; Max-Age=1800; SameSite=Lax; Secure", first.sid);
        b.page().write_cookie(&w);
    }
    b.input();
    b.track_named("back in tab A");
    b.advance(1_000.0);
    let batch = b.batches().pop().unwrap();
    assert_eq!(batch.sid, first.sid);
    assert_eq!(batch.utm, first.utm);
}

/// The visitor reads for a while, leaves the tab idle for 40 minutes and
/// then closes it: the engagement belongs to the page view's session, and
/// no session starts without any activity.
#[test]
fn leaving_after_30_idle_minutes_starts_no_phantom_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.settle();
    let first = b.batches().remove(0);
    b.advance(40.0 * MIN);
    b.pagehide();
    let last = b.batches().pop().unwrap();
    assert_eq!(kinds_of(&last), ["engagement"]);
    assert_eq!(last.sid, first.sid, "the engagement of the session's page view");
    assert_eq!(last.utm, first.utm);
    assert!(b.page().storage.clone().unwrap().starts_with(&first.sid), "no new session stored");
}

/// A tab hidden for over 30 minutes and shown again: the visitor comes
/// back, a new (direct) session.
#[test]
fn coming_back_to_a_tab_after_30_minutes_is_a_new_session() {
    let mut b = Browser::booted(CAMPAIGN);
    b.settle();
    let first = b.batches().remove(0);
    b.set_hidden(true);
    b.advance(31.0 * MIN);
    b.set_hidden(false);
    b.track_named("back");
    b.settle();
    let last = b.batches().pop().unwrap();
    assert_eq!(kinds_of(&last), ["custom"]);
    assert_ne!(last.sid, first.sid);
    assert!(last.utm.is_none());
}

#[test]
fn campaign_and_email_click_id_are_on_every_batch_of_the_session() {
    let mut b = Browser::booted("https://shop.example/?utm_campaign=spring+sale&ktra_ec=EC_7");
    b.settle();
    b.track_named("a");
    b.settle();
    b.navigate("https://shop.example/next");
    b.settle();
    b.track_named("b");
    b.pagehide();
    b.open("https://shop.example/third");
    b.advance(1_000.0);
    let batches = b.batches();
    assert_eq!(batches.len(), 5);
    for batch in &batches {
        assert_eq!(batch.ec.as_deref(), Some("EC_7"));
        assert_eq!(batch.utm.as_ref().unwrap().campaign.as_deref(), Some("spring sale"));
        assert_eq!(batch.sid, batches[0].sid);
    }
}
