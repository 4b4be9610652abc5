//! Scenarios: consent expiry, `stop()` and leaving the page.
use crate::sim::*;

fn assert_gone(b: &Browser) {
    assert!(!b.running());
    assert!(b.cookie(VID).is_none() && b.cookie(SID).is_none());
    assert!(b.last_write(VID).contains("Max-Age=0") && b.last_write(SID).contains("Max-Age=0"));
    assert!(b.page().storage.is_none());
    assert!(!b.page().listening);
    assert!(b.timers().is_empty(), "timer left: {:?}", b.timers());
}

#[test]
fn any_event_after_consent_expiry_stops_the_pixel_and_sends_nothing() {
    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 60.0;
    b.boot();
    b.advance(1_000.0);
    b.deliver_all();
    b.advance(58_500.0);
    b.track_named("queued before expiry");
    b.advance(500.0); // 60 s: the consent ends, the flush is still due
    let mark = b.mark();
    b.input();
    let ops = b.ops_since(mark);
    assert!(ops.contains(&Op::ClearTimers) && ops.contains(&Op::Unstore), "{ops:?}");
    assert!(!ops.contains(&Op::Fetch) && !ops.contains(&Op::Beacon));
    assert_gone(&b);
    b.pagehide();
    b.track_named("after");
    b.advance(10.0 * MIN);
    assert_eq!(b.sent().len(), 1, "only the page view, sent before");
}

#[test]
fn the_flush_timer_after_consent_expiry_stops_instead_of_sending() {
    let mut b = Browser::at(LANDING);
    b.exp_s = (T0 / 1000.0).floor() + 60.0;
    b.boot();
    b.advance(59_500.0);
    b.deliver_all();
    b.track_named("late");
    b.advance(2_000.0);
    assert_gone(&b);
    assert_eq!(b.of_kind("custom").len(), 0);
}

#[test]
fn stop_removes_everything_and_nothing_is_sent_afterwards() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0); // a fetch under way
    for _ in 0..3 {
        b.track_named("queued");
    }
    b.stop();
    assert_gone(&b);
    let mark = b.mark();
    b.respond(503, None); // the fetch settles
    for task in Task::ALL {
        b.send(PageEvent::Timer(task)); // timers already queued
    }
    let link = Some("https://other.example/");
    let fields = [link, link, link, link, link];
    for event in [
        PageEvent::Navigated,
        PageEvent::Input,
        PageEvent::Scroll,
        PageEvent::Visibility { leaving: true },
        PageEvent::Click { link, button: 0.0, aux: false },
        PageEvent::Submit(Form(&fields)),
        PageEvent::Video { what: VideoEvent::Play, id: "v", time: 0.0, duration: 9.0 },
    ] {
        b.send(event);
    }
    b.track_named("after");
    b.purchase(&[("order_id", S("A")), ("value", N(1.0)), ("currency", S("EUR"))]);
    b.identify(&[("email", S("a@b.example"))]);
    b.advance(10.0 * MIN);
    assert!(b.ops_since(mark).is_empty(), "{:?}", b.ops_since(mark));
    assert_eq!(b.sent().len(), 1, "the queued events were dropped");
    assert!(!b.running());
}

#[test]
fn leaving_the_page_detaches_but_keeps_cookies_and_storage() {
    let mut b = Browser::booted(LANDING);
    let (vid, sid) = (b.cookie(VID), b.cookie(SID));
    let mark = b.mark();
    b.leave();
    let ops = b.ops_since(mark);
    assert_eq!(ops, [Op::Listen, Op::ClearTimers]);
    assert_eq!((b.cookie(VID), b.cookie(SID)), (vid, sid));
    assert!(b.page().storage.is_some());
}
