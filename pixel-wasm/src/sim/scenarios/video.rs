//! Scenarios: video milestones.
use crate::sim::*;

fn video_events(b: &Browser) -> Vec<(String, Option<u8>, String)> {
    b.events()
        .into_iter()
        .filter(|e| e.kind.starts_with("video"))
        .map(|e| (e.kind, e.percent, e.video_id.unwrap()))
        .collect()
}

#[test]
fn video_milestones_once_each_per_page_view_and_video() {
    let mut b = Browser::booted(LANDING);
    let src = "https://cdn.example/intro.mp4";
    b.media("play", "VIDEO", "intro", src, 0.0, 200.0);
    b.media("timeupdate", "VIDEO", "intro", src, 60.0, 200.0); // 30 %
    b.media("timeupdate", "VIDEO", "intro", src, 160.0, 200.0); // 80 %: 50 and 75
    b.media("timeupdate", "VIDEO", "intro", src, 170.0, 200.0);
    b.media("ended", "VIDEO", "intro", src, 200.0, 200.0);
    b.media("play", "VIDEO", "intro", src, 0.0, 200.0); // watched again
    b.media("timeupdate", "VIDEO", "intro", src, 100.0, 200.0);
    b.media("ended", "VIDEO", "intro", src, 200.0, 200.0);
    // A second video without id: its source names it.
    b.media("play", "VIDEO", "", "https://cdn.example/b.mp4", 0.0, 10.0);
    b.navigate("https://shop.example/next");
    b.advance(100.0);
    b.media("play", "VIDEO", "intro", src, 0.0, 200.0); // a new page view
    b.advance(1_000.0);
    let s = |k: &str, p: Option<u8>, id: &str| (k.to_string(), p, id.to_string());
    assert_eq!(
        video_events(&b),
        [
            s("video_start", None, "intro"),
            s("video_progress", Some(25), "intro"),
            s("video_progress", Some(50), "intro"),
            s("video_progress", Some(75), "intro"),
            s("video_complete", None, "intro"),
            s("video_start", None, "https://cdn.example/b.mp4"),
            s("video_start", None, "intro"),
        ]
    );
}

#[test]
fn audio_unknown_durations_and_unnamed_videos_are_ignored() {
    let mut b = Browser::booted(LANDING);
    b.media("play", "AUDIO", "podcast", "https://cdn.example/p.mp3", 0.0, 100.0);
    b.media("timeupdate", "AUDIO", "podcast", "https://cdn.example/p.mp3", 90.0, 100.0);
    b.media("timeupdate", "VIDEO", "live", "", 50.0, f64::INFINITY); // a live stream
    b.media("timeupdate", "VIDEO", "meta", "", 50.0, f64::NAN); // metadata not loaded: 0
    b.media("play", "VIDEO", "", "", 0.0, 10.0);
    b.settle();
    assert_eq!(b.kinds(), ["page_view"]);
    b.media("play", "VIDEO", "live", "", 0.0, f64::INFINITY);
    b.settle();
    assert_eq!(video_events(&b), [("video_start".to_string(), None, "live".to_string())]);
}
