//! Scenarios: scroll depth.
use crate::sim::*;

/// Scroll depths reported, in event time order (bodies waiting for a fetch
/// go newest first).
fn depths(b: &Browser) -> Vec<(u8, String)> {
    let mut s = b.of_kind("scroll");
    s.sort_by_key(|e| e.ts);
    s.into_iter().map(|e| (e.depth.unwrap(), e.url.unwrap())).collect()
}

#[test]
fn scroll_depths_are_reported_once_each_per_page_view() {
    let mut b = Browser::booted(LANDING); // 800 px viewport, 4000 px page
    b.advance(300.0);
    let reads = |b: &Browser| b.page().log.iter().filter(|(op, _, _)| *op == Op::Scrolled).count();
    assert_eq!(reads(&b), 1, "measured 300 ms after the start");
    b.scroll_to(100.0);
    b.advance(100.0);
    b.scroll_to(150.0);
    b.advance(100.0);
    b.scroll_to(200.0); // 25 %
    b.advance(50.0);
    assert_eq!(reads(&b), 2, "scrolls coalesce into one measure after 250 ms");
    b.scroll_to(1_300.0); // 52 %
    b.advance(250.0);
    b.scroll_to(0.0);
    b.advance(250.0);
    b.scroll_to(3_200.0); // the bottom
    b.advance(250.0);
    b.scroll_to(3_200.0);
    b.advance(250.0);
    b.navigate("https://shop.example/next");
    b.page().scroll_y = 0.0;
    b.advance(600.0);
    b.scroll_to(1_000.0); // 45 % of the next page
    b.settle();
    let next = "https://shop.example/next".to_string();
    let l = LANDING.to_string();
    assert_eq!(depths(&b), [(25, l.clone()), (50, l.clone()), (75, l.clone()), (90, l.clone()), (100, l), (25, next)]);
}

#[test]
fn a_page_shorter_than_the_viewport_reports_all_depths() {
    let mut b = Browser::at(LANDING);
    b.page().doc_h = 600.0;
    b.boot();
    b.advance(1_000.0);
    let d: Vec<u8> = depths(&b).into_iter().map(|(d, _)| d).collect();
    assert_eq!(d, [25, 50, 75, 90, 100]);
    assert!(b.of_kind("scroll").iter().all(|e| e.ts == Some(T0 as i64 + 300)));
}
