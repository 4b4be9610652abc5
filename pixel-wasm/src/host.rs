//! The pixel's one window on the page: [`Host`], typed.
//!
//! The page side is small: it reads and writes the platform when asked and
//! tells the pixel what happened ([`crate::event::PageEvent`]). What is sent
//! and when lives in the core, generic over [`Host`], so the same code runs
//! on the real page (`web::Js`, which turns each method into one call of the
//! numeric ABI of [`crate::abi`], inlined) and on a simulated one in native
//! tests (`sim`).
//!
//! Failures (a throwing DOM call, a missing API) come back as none, `false`
//! or -1, never as a panic.
use alloc::string::String;

/// Work the pixel does later, driven by timers: one per task (the host
/// keeps the earliest asked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Seal the queue into a request body and send.
    Flush,
    /// A backoff ended: send again.
    Retry,
    /// A history change settled: maybe a page view.
    Nav,
    /// Measure scroll depth.
    Scroll,
    /// The start's deferred work.
    Init,
}

impl Task {
    /// Every task, numbered by position (its code across the ABI).
    pub const ALL: [Task; 5] = [Task::Flush, Task::Retry, Task::Nav, Task::Scroll, Task::Init];

    /// The task numbered `code`.
    pub fn from_code(code: u32) -> Option<Task> {
        Some(match code {
            0 => Task::Flush,
            1 => Task::Retry,
            2 => Task::Nav,
            3 => Task::Scroll,
            4 => Task::Init,
            _ => return None,
        })
    }
}

/// The page, as the pixel sees it.
pub trait Host {
    /// `location.href`.
    fn href(&self) -> String;
    /// `document.referrer`.
    fn referrer(&self) -> String;
    /// `document.title`.
    fn title(&self) -> String;
    /// The landing URL's decoded query parameter `name`, trimmed.
    fn param(&self, name: &str) -> Option<String>;
    /// The landing URL's campaign as the batch's `utm` object (JSON), empty
    /// without any (see [`crate::abi::Op::Campaign`]).
    fn campaign(&self) -> String;
    /// Whether the page is hidden (background tab, minimized).
    fn hidden(&self) -> bool;
    /// How much of the page has been seen, in percent (100 for a page that
    /// fits the viewport); -1 when it cannot tell.
    fn scrolled(&self) -> f64;

    /// The value of cookie `name`.
    fn cookie(&self, name: &str) -> Option<String>;
    /// Sets a first-party cookie, `name=value`, for `max_age_s` seconds (0
    /// deletes it); host-only, `Path=/`, `SameSite=Lax`, `Secure` on https.
    fn set_cookie(&self, name_value: &str, max_age_s: u64);
    /// The stored session (`localStorage`), empty for none.
    fn stored(&self) -> String;
    /// Stores the session.
    fn store(&self, session: &str);
    /// Removes the stored session.
    fn unstore(&self);
    /// Removes query parameter `name` from the address bar (every
    /// occurrence, the rest kept as written); whether there was one.
    fn strip_param(&self, name: &str) -> bool;

    /// Attaches (`true`) or removes the page listeners and history proxies.
    fn listen(&self, on: bool);
    /// Runs `task` in `ms` (a [`crate::event::PageEvent::Timer`]), or
    /// earlier if it is already due earlier.
    fn set_timer(&self, task: Task, ms: f64);
    /// Clears every timer.
    fn clear_timers(&self);

    /// Sets the URL requests go to.
    fn set_endpoint(&self, url: &str);
    /// Starts `fetch(endpoint, POST body, keepalive)`; whether it is under
    /// way. It settles with a [`crate::event::PageEvent::Response`] carrying
    /// `request` back.
    fn fetch(&self, body: &str, request: u32) -> bool;
    /// `navigator.sendBeacon(endpoint, body)`: whether the browser took it.
    fn beacon(&self, body: &str) -> bool;

    /// A random number in 0..1 (backoff jitter).
    fn random(&self) -> f64;
    /// A fresh UUID v4, lower case.
    fn uuid(&self) -> String;
}

/// What [`Host::strip_param`] does with `ktra_ec`, path and query before
/// and after (`None`: nothing to strip). The one table for the real host
/// (Chromium tests) and the native tests' simulated page.
#[cfg(test)]
pub(crate) const STRIP_CASES: [(&str, Option<&str>); 8] = [
    ("/a?x=1&ktra_ec=E1&utm_source=n#top", Some("/a?x=1&utm_source=n#top")),
    ("/a?ktra_ec=E1", Some("/a")),
    ("/a?ktra_ec=E1#f?g=1", Some("/a#f?g=1")),
    ("/a?ktra_ec=1&ktra_ec=2&b=", Some("/a?b=")),
    ("/a?q=%20x+y&ktra_ec", Some("/a?q=%20x+y")),
    ("/a?x=1#ktra_ec=E1", None),
    ("/a?xktra_ec=1", None),
    ("/a", None),
];
