//! Scenarios: SPA navigations.
use crate::sim::*;

#[test]
fn an_spa_navigation_is_a_page_view_100_ms_later_with_the_previous_url_as_referrer() {
    let mut b = Browser::booted(LANDING);
    b.advance(2_000.0);
    b.deliver_all();
    let t = b.now();
    b.navigate("https://shop.example/products");
    b.advance(50.0);
    b.page().title = "Products".into(); // the app sets it after pushState
    b.advance(1_050.0);
    let batch = b.batches().pop().unwrap();
    assert_eq!(kinds_of(&batch), ["engagement", "page_view"]);
    let (eng, pv) = (&batch.events[0], &batch.events[1]);
    assert_eq!(eng.url.as_deref(), Some(LANDING), "engagement of the previous page");
    assert_eq!(eng.engaged_ms, Some(2_100));
    assert_eq!(pv.url.as_deref(), Some("https://shop.example/products"));
    assert_eq!(pv.referrer.as_deref(), Some(LANDING));
    assert_eq!(pv.title.as_deref(), Some("Products"));
    assert_eq!(pv.ts, Some((t + 100.0) as i64));
}

#[test]
fn same_url_or_anchor_change_is_no_page_view_but_a_hash_route_is() {
    let mut b = Browser::booted(LANDING);
    b.navigate(LANDING);
    b.advance(200.0);
    b.navigate("https://shop.example/landing?q=1#section");
    b.advance(200.0);
    assert_eq!(b.page().log.iter().filter(|(op, _, _)| *op == Op::Title).count(), 1, "one page view so far");
    b.navigate("https://shop.example/landing?q=1#/cart");
    b.advance(200.0);
    b.navigate("https://shop.example/landing?q=2");
    b.advance(1_000.0);
    let urls: Vec<String> = b.of_kind("page_view").into_iter().map(|e| e.url.unwrap()).collect();
    assert_eq!(urls, [LANDING, "https://shop.example/landing?q=1#/cart", "https://shop.example/landing?q=2"]);
}

#[test]
fn an_event_right_after_a_navigation_belongs_to_the_new_page() {
    let mut b = Browser::booted(LANDING);
    b.advance(1_000.0);
    b.deliver_all();
    b.navigate("https://shop.example/b");
    b.advance(30.0);
    b.click("https://other.example/offer");
    b.advance(1_000.0);
    let evs: Vec<(String, String)> = b.events()[1..].iter().map(|e| (e.kind.clone(), e.url.clone().unwrap())).collect();
    let b_url = "https://shop.example/b";
    let expect: Vec<(String, String)> = [("engagement", LANDING), ("page_view", b_url), ("outbound_click", b_url)]
        .iter()
        .map(|(k, u)| (k.to_string(), u.to_string()))
        .collect();
    assert_eq!(evs, expect);
}

#[test]
fn quick_redirects_collapse_into_one_page_view() {
    let mut b = Browser::booted(LANDING);
    b.navigate("https://shop.example/a"); // pushState
    b.advance(30.0);
    b.navigate("https://shop.example/b"); // replaceState by a router redirect
    b.advance(30.0);
    b.navigate("https://shop.example/c");
    b.advance(30.0);
    b.navigate(LANDING); // and back: nothing
    b.settle();
    assert_eq!(b.of_kind("page_view").len(), 1);
    b.navigate("https://shop.example/a");
    b.advance(50.0);
    b.navigate("https://shop.example/b");
    b.settle();
    let pv = b.of_kind("page_view");
    assert_eq!(pv.len(), 2);
    assert_eq!(pv[1].url.as_deref(), Some("https://shop.example/b"));
    assert_eq!(pv[1].referrer.as_deref(), Some(LANDING));
}

/// The app's router rewrites the URL (`replaceState`) right after the
/// loader's `start`, before the start task ran: one page view of the page,
/// with the document's referrer.
#[test]
fn a_url_change_before_the_start_task_is_one_page_view() {
    let mut b = Browser::at("https://shop.example/");
    b.start_default();
    b.page().href = "https://shop.example/home".into();
    b.advance(1_000.0);
    let pv = b.of_kind("page_view");
    let urls: Vec<&str> = pv.iter().map(|e| e.url.as_deref().unwrap()).collect();
    let mut unique = urls.clone();
    unique.dedup();
    assert_eq!(urls, unique, "a page view twice");
    assert_eq!(pv[0].referrer.as_deref(), Some(REFERRER), "the visit's referrer");
}
