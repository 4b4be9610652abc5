//! Scenarios: the loader's `start`: what it does at once, what it defers, bad configurations, renewals.
use crate::sim::*;

/// The loader's `start` returns at once: no cookie or storage touched, no
/// listener, nothing sent; the rest runs in a timer task right after.
#[test]
fn start_only_reads_config_and_init_runs_on_the_first_timer() {
    let mut b = Browser::at(LANDING);
    b.start_default();
    let ops = b.ops_since(0);
    for op in [Op::Cookie, Op::SetCookie, Op::Stored, Op::Store, Op::Listen, Op::Fetch, Op::Beacon, Op::Strip] {
        assert!(!ops.contains(&op), "{op:?} inside start: {ops:?}");
    }
    assert!(ops.contains(&Op::Endpoint) && ops.contains(&Op::SetTimer), "{ops:?}");
    assert_eq!(b.page().endpoint, EVENTS_URL);
    assert_eq!(b.timers(), [T0], "one timer, right away");
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());

    b.advance(0.0);
    assert!(b.cookie(VID).is_some() && b.cookie(SID).is_some());
    assert!(b.page().storage.is_some());
    assert!(b.page().listening);
    assert!(b.sent().is_empty(), "the page view waits for the flush");
}

/// An API call that comes before the start task runs it first: nothing lost,
/// one page view.
#[test]
fn an_api_call_before_the_start_task_runs_it_first() {
    let mut b = Browser::at(LANDING);
    b.start_default();
    b.track_named("early");
    assert!(b.cookie(VID).is_some(), "init ran for the call");
    b.advance(1_000.0);
    assert_eq!(b.kinds(), ["page_view", "custom"]);
}

#[test]
fn bad_or_expired_config_does_nothing() {
    let now_s = (T0 / 1000.0).floor();
    let future = now_s + DAY_S;
    // host.js passes a missing string as none, which reads as empty, and
    // a missing `exp` as 0.
    let cases: [(&str, &str, f64); 6] = [
        ("", SITE, future),
        (ENDPOINT, "", future),
        ("", "", 0.0),                 // start(null)
        (ENDPOINT, SITE, now_s - 1.0), // expired
        (ENDPOINT, SITE, 0.0),         // `exp` missing
        (ENDPOINT, SITE, f64::NAN),
    ];
    for (i, (endpoint, site, exp)) in cases.into_iter().enumerate() {
        let mut b = Browser::at(LANDING);
        b.start(endpoint, site, TOKEN, exp);
        assert!(!b.running(), "case {i}");
        assert!(b.ops_since(0).is_empty(), "case {i}: {:?}", b.ops_since(0));
        b.track_named("x");
        b.advance(5_000.0);
        assert!(b.cookie(VID).is_none() && b.sent().is_empty(), "case {i}");
    }
    // A consent valid one more second is enough.
    let mut b = Browser::at(LANDING);
    b.start(ENDPOINT, SITE, TOKEN, now_s + 1.0);
    b.advance(0.0);
    assert!(b.running());
    assert_eq!(b.max_age(SID), 1);
}

/// A renewed consent while running: the new token and expiry, nothing else
/// (no second page view, same endpoint, visitor and session).
#[test]
fn start_while_running_only_refreshes_token_and_expiry() {
    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 30.0 * DAY_S;
    b.boot();
    assert_eq!(b.max_age(VID), 30 * 86_400);
    b.advance(1_000.0);
    b.deliver_all();
    let first = b.batches().remove(0);
    assert_eq!(first.consent.as_deref(), Some(TOKEN));

    let mark = b.mark();
    let exp2 = b.now_s() + 200.0 * DAY_S;
    b.start("https://elsewhere.example/", "other-site", "v1.token-2", exp2);
    let ops = b.ops_since(mark);
    assert_eq!(ops, [Op::SetCookie], "only the visitor cookie's life is re-set");
    assert_eq!(b.max_age(VID), 200 * 86_400, "bound to the new expiry");
    assert_eq!(b.page().endpoint, EVENTS_URL);

    b.track_named("after");
    b.advance(1_000.0);
    let last = b.batches().pop().unwrap();
    assert_eq!(last.consent.as_deref(), Some("v1.token-2"));
    assert_eq!((last.site.as_str(), &last.vid, &last.sid), (SITE, &first.vid, &first.sid));
    assert_eq!(b.of_kind("page_view").len(), 1);
}

#[test]
fn start_then_stop_before_the_start_task_leaves_nothing() {
    let mut b = Browser::at(LANDING);
    b.start_default();
    b.stop();
    b.advance(5_000.0);
    assert!(!b.running());
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());
    assert!(b.page().cookie_writes.iter().all(|w| w.contains("Max-Age=0")), "only deletions");
    assert!(b.sent().is_empty() && b.timers().is_empty());
    assert!(!b.ops_since(0).contains(&Op::Listen));
}
