//! Scenarios: retries, backoff, `Retry-After`, final answers.
use crate::sim::*;

#[test]
fn network_errors_and_5xx_are_retried_with_the_same_body() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    for status in [0, 503, 500, 502, 504, 408] {
        let t = b.now();
        let n = b.fetches().len();
        b.respond(status, None);
        b.advance(60_000.0);
        let f = b.fetches();
        assert_eq!(f.len(), n + 1, "{status} is retried");
        assert!(f[n].at > t, "{status}: after a backoff");
        assert_eq!(f[n].body, f[0].body, "same body, same event ids");
    }
    b.respond(202, None);
    b.advance(10.0 * MIN);
    assert_eq!(b.fetches().len(), 7, "delivered: no more");
}

#[test]
fn backoff_doubles_from_one_second_to_a_minute_with_jitter() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    let mut delays = Vec::new();
    for attempt in 1..=7 {
        let t = b.now();
        let n = b.fetches().len();
        b.respond(503, None);
        b.advance(70_000.0);
        let f = b.fetches();
        assert_eq!(f.len(), n + 1);
        let delay = f[n].at - t;
        let full = (1_000.0 * 2f64.powi(attempt - 1)).min(60_000.0);
        assert!((full / 2.0..=full).contains(&delay), "attempt {attempt}: {delay} ms");
        delays.push(delay);
    }
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
}

#[test]
fn retry_after_is_honoured_for_429_and_503_only() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    let next_after = |b: &mut Browser, status: u16, header: &str| {
        let (t, n) = (b.now(), b.fetches().len());
        b.respond(status, Some(header));
        b.advance(11.0 * MIN);
        assert_eq!(b.fetches().len(), n + 1);
        b.fetches()[n].at - t
    };
    assert_eq!(next_after(&mut b, 429, "30"), 30_000.0);
    assert_eq!(next_after(&mut b, 503, " 12 "), 12_000.0);
    assert!(next_after(&mut b, 500, "30") <= 4_000.0, "not for a 500");
    assert!(next_after(&mut b, 429, "Wed, 21 Oct 2015 07:28:00 GMT") <= 8_000.0, "dates are not understood");
    assert_eq!(next_after(&mut b, 503, "86400"), 600_000.0, "capped at 10 minutes");
    b.respond(202, None);
    let bodies: Vec<String> = b.fetches().into_iter().map(|s| s.body).collect();
    assert!(bodies.iter().all(|x| *x == bodies[0]));
}

#[test]
fn retry_after_is_waited_for_exactly() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.respond(429, Some("30"));
    b.track_named("meanwhile");
    b.advance(29_999.0);
    assert_eq!(b.fetches().len(), 1, "nothing before Retry-After, new events neither");
    b.advance(1.0);
    assert_eq!(b.fetches().len(), 2);
    b.deliver_all();
    assert_eq!(b.kinds(), ["page_view", "page_view", "custom"]);
}

#[test]
fn client_errors_are_final() {
    for status in [400, 401, 404, 413, 422, 501, 505] {
        let mut b = Browser::booted(LANDING);
        b.advance(1_000.0);
        b.respond(status, Some("1"));
        b.advance(10.0 * MIN);
        assert_eq!(b.fetches().len(), 1, "{status} is not retried");
        // Later events still go.
        b.track_named("next");
        b.advance(1_000.0);
        assert_eq!(b.fetches().len(), 2, "{status}");
        assert_eq!(kinds_of(&b.batches()[1]), ["custom"]);
    }
}

#[test]
fn a_body_is_dropped_after_8_attempts_and_the_next_one_goes() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.track_named("waiting");
    for _ in 1..8 {
        b.respond(0, None);
        b.advance(70_000.0);
    }
    assert_eq!(b.fetches().len(), 8);
    assert!(b.fetches().iter().all(|f| f.body == b.fetches()[0].body), "the other body waits its turn");
    b.respond(0, None); // the 8th failure
    let f = b.fetches();
    assert_eq!(f.len(), 9, "the next body goes at once");
    assert_eq!(kinds_of(&b.batches()[8]), ["custom"]);
    b.respond(202, None);
    b.advance(10.0 * MIN);
    assert_eq!(b.fetches().len(), 9, "the dropped body is not sent again");
}

/// A fetch of a stopped pixel settling after a new start is not taken for
/// the new pixel's fetch.
#[test]
fn a_response_of_an_old_generation_is_ignored() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.stop();
    b.boot();
    b.advance(1_000.0);
    assert_eq!(b.fetches().len(), 2);
    b.respond(503, None); // the old pixel's fetch
    b.advance(2.0 * MIN);
    assert_eq!(b.fetches().len(), 2, "no retry for a body the new pixel does not have");
    for _ in 0..10 {
        b.track_named("t");
    }
    assert_eq!(b.fetches().len(), 2, "the new fetch is still under way");
    b.respond(202, None); // the new pixel's fetch
    assert_eq!(b.fetches().len(), 3);
    assert_eq!(b.batches()[2].events.len(), 10);
}
