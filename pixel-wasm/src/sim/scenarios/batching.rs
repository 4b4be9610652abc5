//! Scenarios: when queued events are sent, and how bodies are cut.
use crate::sim::*;

#[test]
fn an_event_waits_at_most_one_second_then_goes_by_fetch() {
    let mut b = Browser::booted(LANDING);
    b.advance(999.0);
    assert!(b.sent().is_empty());
    b.advance(1.0);
    let f = b.fetches();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].at, T0 + 1_000.0);
    b.respond(202, None);

    // Events that keep coming do not postpone the first one's flush.
    b.track_named("a");
    let t = b.now();
    b.advance(500.0);
    b.track_named("b");
    b.advance(400.0);
    b.track_named("c");
    b.advance(99.0);
    assert_eq!(b.fetches().len(), 1);
    b.advance(1.0);
    let f = b.fetches();
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].at, t + 1_000.0);
    assert_eq!(kinds_of(&b.batches()[1]), ["custom"; 3]);
    assert!(b.beacons().is_empty());
}

#[test]
fn ten_events_flush_at_once() {
    let mut b = Browser::booted(LANDING);
    for _ in 0..8 {
        b.track_named("t");
    }
    assert!(b.sent().is_empty());
    b.track_named("t"); // the 10th event, with the page view
    assert_eq!(b.fetches().len(), 1, "no waiting for the timer");
    assert_eq!(b.batches()[0].events.len(), 10);
    b.respond(202, None);
    for _ in 0..10 {
        b.track_named("u");
    }
    assert_eq!(b.fetches().len(), 2);
    assert_eq!(b.batches()[1].events.len(), 10);
}

#[test]
fn bodies_stay_within_50_events_and_32_kib() {
    // 120 events while the collector is slow to answer.
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    for _ in 0..120 {
        b.track_named("burst");
    }
    b.deliver_all();
    b.advance(2_000.0);
    b.deliver_all();
    let batches = b.batches();
    assert!(batches.iter().all(|b| !b.events.is_empty() && b.events.len() <= 50));
    assert_eq!(b.of_kind("custom").len(), 120, "all delivered, once");

    // Big events: one body never exceeds 32 KiB.
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    let keys: Vec<String> = (0..32).map(|i| format!("p{i}")).collect();
    let big: &'static str = Box::leak("x".repeat(500).into_boxed_str());
    let props: Vec<(&str, Js)> = keys.iter().map(|k| (k.as_str(), S(big))).collect();
    for _ in 0..10 {
        b.track(S("big"), &props);
    }
    b.deliver_all();
    b.advance(2_000.0);
    b.deliver_all();
    assert!(b.sent().iter().all(|s| s.body.len() <= 32 * 1024));
    let customs = b.of_kind("custom");
    assert_eq!(customs.len(), 10);
    assert_eq!(customs[0].props.as_ref().unwrap().len(), 32);
}
