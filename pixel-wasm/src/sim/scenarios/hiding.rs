//! Scenarios: hiding and leaving the page: beacons and engagement.
use crate::sim::*;

#[test]
fn pagehide_sends_the_queue_by_beacon_with_engagement() {
    let mut b = Browser::booted(LANDING);
    b.advance(500.0);
    b.track_named("x");
    b.advance(300.0);
    b.pagehide();
    assert!(b.fetches().is_empty());
    let beacons = b.beacons();
    assert_eq!(beacons.len(), 1);
    let batch = &b.batches()[0];
    assert_eq!(kinds_of(batch), ["page_view", "custom", "engagement"]);
    assert_eq!(batch.events[2].engaged_ms, Some(800), "visible and active since the start");
    b.advance(5_000.0);
    assert_eq!(b.sent().len(), 1, "nothing sent twice");
}

#[test]
fn hiding_the_tab_beacons_and_showing_it_again_does_not() {
    let mut b = Browser::booted(LANDING);
    b.advance(2_000.0);
    b.deliver_all();
    b.track_named("x");
    b.set_hidden(true);
    assert_eq!(b.beacons().len(), 1);
    assert_eq!(kinds_of(&b.batches()[1]), ["custom", "engagement"]);
    assert_eq!(b.batches()[1].events[1].engaged_ms, Some(2_000));
    b.advance(10_000.0);
    b.set_hidden(false);
    assert_eq!(b.sent().len(), 2, "visible again: nothing sent");
    b.advance(3_000.0);
    b.pagehide();
    let eng: Vec<u64> = b.of_kind("engagement").iter().map(|e| e.engaged_ms.unwrap()).collect();
    assert_eq!(eng, [2_000, 3_000], "hidden time does not count");
}

#[test]
fn engagement_counts_only_time_with_input_in_the_last_30_s() {
    let mut b = Browser::booted(LANDING);
    b.advance(60_000.0); // reading without input: 30 s count
    b.input();
    b.advance(10_000.0);
    b.pagehide();
    let eng = b.of_kind("engagement");
    assert_eq!(eng.len(), 1);
    assert_eq!(eng[0].engaged_ms, Some(40_000));
    b.pagehide();
    assert_eq!(b.of_kind("engagement").len(), 1, "nothing more to report");
}

#[test]
fn a_refused_beacon_keeps_the_body_for_the_next_fetch() {
    let mut b = Browser::booted(LANDING);
    b.page().beacon_ok = false;
    b.advance(500.0);
    let mark = b.mark();
    b.pagehide();
    let refused: Vec<String> =
        b.page().log[mark..].iter().filter(|(op, _, _)| *op == Op::Beacon).map(|(_, s, _)| s.clone()).collect();
    assert_eq!(refused.len(), 1);
    assert!(b.sent().is_empty());
    b.advance(500.0); // the flush timer
    let f = b.fetches();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].body, refused[0], "the same events, same ids");
    assert_eq!(kinds_of(&b.batches()[0]), ["page_view", "engagement"]);
}

#[test]
fn hiding_does_not_resend_the_body_in_flight() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.pagehide();
    assert_eq!(b.fetches().len(), 1);
    assert_eq!(kinds_of(&b.batches()[1]), ["engagement"], "the beacon leaves the page view to its fetch");
}

#[test]
fn hiding_during_a_backoff_sends_the_waiting_body_by_beacon() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.respond(503, Some("60"));
    b.advance(1_000.0);
    b.pagehide();
    let beaconed: Vec<String> = b.beacons().into_iter().map(|s| s.body).collect();
    assert!(beaconed.contains(&b.fetches()[0].body), "the waiting page view goes by beacon");
    b.advance(2.0 * MIN);
    assert_eq!(b.fetches().len(), 1, "and is not retried afterwards");
    assert_eq!(b.of_kind("page_view").len(), 2);
}
