//! Scenarios: email clicks (`ktra_ec`).
use crate::sim::*;

#[test]
fn an_email_click_is_reported_once_and_leaves_the_address_bar() {
    let landing = "https://shop.example/mail?x=1&ktra_ec=EC_42&utm_source=news%20letter#frag";
    let clean = "https://shop.example/mail?x=1&utm_source=news%20letter#frag";
    let mut b = Browser::at(landing);
    b.boot();
    assert_eq!(b.page().href, clean);
    assert!(b.page().log.iter().any(|(op, s, _)| *op == Op::Strip && s == "ktra_ec"));
    b.navigate(clean); // a router's own replaceState with the same URL
    b.advance(1_000.0);
    let batch = &b.batches()[0];
    assert_eq!(kinds_of(batch), ["email_click", "page_view"], "no second page view");
    assert_eq!(batch.events[0].click_id.as_deref(), Some("EC_42"));
    assert_eq!(batch.events[1].url.as_deref(), Some(clean));
    assert_eq!(batch.ec.as_deref(), Some("EC_42"));
    assert_eq!(batch.utm.as_ref().unwrap().source.as_deref(), Some("news letter"));
}

#[test]
fn reloading_after_an_email_click_sends_no_second_one() {
    let landing = "https://shop.example/mail?ktra_ec=EC_42";
    let mut b = Browser::booted(landing);
    b.advance(1_000.0);
    let sid = b.batches()[0].sid.clone();
    b.advance(MIN);
    b.open("https://shop.example/mail"); // a reload of the clean URL
    b.advance(MIN);
    b.open(landing); // back to the history entry with the id
    b.advance(1_000.0);
    assert_eq!(b.of_kind("email_click").len(), 1);
    assert_eq!(b.of_kind("page_view").len(), 3);
    assert!(b.batches().iter().all(|x| x.sid == sid && x.ec.as_deref() == Some("EC_42")));
}

#[test]
fn an_invalid_email_click_id_is_ignored() {
    let mut b = Browser::booted("https://shop.example/?ktra_ec=bad%20id");
    b.advance(1_000.0);
    assert_eq!(b.kinds(), ["page_view"]);
    assert!(b.batches()[0].ec.is_none());
}
