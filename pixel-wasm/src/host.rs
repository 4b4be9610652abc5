//! The pixel's one window on the page, and the ABI with the JS host
//! (`src/web/host.js`).
//!
//! The page side is a small hand-written JS module: it reads and writes the
//! platform when asked ([`Op`]) and forwards page events as facts ([`ev`]),
//! read the way JS reads them best (which link leaves the site, which
//! controls are fields, the campaign parameters, API values as JS converts
//! them). What is sent and when lives in Rust behind the [`Host`] trait,
//! so the same code runs on the real page (`web`, wasm) and on a simulated
//! one in native tests.
//!
//! Why not typed bindings (web-sys) or reflection through wasm-bindgen's
//! `JsValue`: each DOM member bound from Rust costs an import, a conversion
//! shim in the wasm and one in the JS glue, and every closure handed to JS
//! another set. The pixel touches ~40 members; bound from Rust that was 19
//! KB gzipped against a 10 KB budget. One numeric import and one numeric
//! export leave wasm-bindgen almost nothing to generate.
//!
//! ABI: wasm → JS `ktra.k_do(op, ptr, len, n) -> f64` (a UTF-8 string in
//! wasm memory and a number; string results come back through the export
//! `k_buf(len) -> ptr`, the call returning their length or -1 for none);
//! JS → wasm `k_ev(code, now_ms, a, b)`, the call's strings ("args") written
//! before through `k_buf`, each followed by a 0xFF byte, 0xFE standing for
//! none (neither byte occurs in UTF-8).
use alloc::string::String;

/// What the pixel asks of the page. The discriminant is the op's index in
/// `host.js`'s `OPS` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// `location.href`.
    Href,
    /// `document.referrer`.
    Referrer,
    /// `document.title`.
    Title,
    /// The landing URL's decoded query parameter named by the string,
    /// trimmed.
    Param,
    /// The landing URL's campaign as the batch's `utm` object (JSON):
    /// `utm_source`, `utm_medium`, `utm_campaign`, `utm_term`,
    /// `utm_content`, `gclid`, `fbclid`, `msclkid` as ktra-schema's `Utm`
    /// fields, trimmed, cut to 512 characters, empty ones left out; none
    /// without any.
    Campaign,
    /// The value of the cookie named by the string.
    Cookie,
    /// Sets a cookie: the string is `name=value`, `n` its `Max-Age` (0
    /// deletes it); host-only, `Path=/`, `SameSite=Lax`, `Secure` on https.
    SetCookie,
    /// The stored session (`localStorage`, key [`crate::session::STORAGE_KEY`]).
    Stored,
    /// Stores the session.
    Store,
    /// Removes the stored session.
    Unstore,
    /// Removes the query parameter named by the string from the address bar
    /// (`history.replaceState`; every occurrence, the other parameters and
    /// the fragment kept as written); 1 when there was one.
    Strip,
    /// Attaches (`n` = 1) or removes (0) the page listeners and history proxies.
    Listen,
    /// Runs the timer event for the task named by the string in `n` ms,
    /// or earlier if that task's timer is already due earlier (one timer
    /// per task).
    SetTimer,
    /// Clears every timer.
    ClearTimers,
    /// Sets the URL requests go to.
    Endpoint,
    /// `fetch(endpoint, POST s, keepalive)`; 1 when under way. It settles
    /// with a [`ev::RESPONSE`] event carrying `n` back.
    Fetch,
    /// `navigator.sendBeacon(endpoint, s)`; 1 when the browser took it.
    Beacon,
    /// A random number in 0..1 (backoff jitter).
    Random,
    /// A fresh UUID v4 (`crypto.getRandomValues`), lower case.
    Uuid,
    /// `document.hidden` as 1/0.
    Hidden,
    /// How much of the page has been seen, in percent: the viewport's
    /// bottom over the document height; 100 for a page that fits the
    /// viewport or within 2 px of its end.
    Scrolled,
}

/// The [`Op`] names in order, as `host.js` labels its table (checked by a test).
pub const OP_NAMES: [&str; 21] = [
    "HREF",
    "REFERRER",
    "TITLE",
    "PARAM",
    "CAMPAIGN",
    "COOKIE",
    "SET_COOKIE",
    "STORED",
    "STORE",
    "UNSTORE",
    "STRIP",
    "LISTEN",
    "SET_TIMER",
    "CLEAR_TIMERS",
    "ENDPOINT",
    "FETCH",
    "BEACON",
    "RANDOM",
    "UUID",
    "HIDDEN",
    "SCROLLED",
];

/// What [`Op::Strip`] does with `ktra_ec`, path and query before and after
/// (`None`: nothing to strip). The one table for the real host (Chromium
/// tests) and the native tests' simulated page.
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

/// Event codes of `k_ev(code, now, a, b)`, with their strings (args) and
/// numbers.
pub mod ev {
    /// `start(cfg)`: endpoint, site, token; `a` consent expiry (Unix seconds).
    pub const START: u32 = 0;
    /// `stop()`.
    pub const STOP: u32 = 1;
    /// `track(name, props)`: name (trimmed), then props as key, typed value pairs
    /// (`s…` string, `n…` finite number as JS prints it, which is JSON,
    /// `b…` boolean).
    pub const TRACK: u32 = 2;
    /// `purchase(order)`: order id, value (a finite number as JSON text),
    /// currency (trimmed, upper case), product id, product name (ids: strings, or numbers as
    /// text), then the object's other keys as typed pairs like `TRACK`'s.
    pub const PURCHASE: u32 = 3;
    /// `identify(who)`: email (trimmed, lower case), lead id.
    pub const IDENTIFY: u32 = 4;
    /// A task's timer fired: the task's name.
    pub const TIMER: u32 = 5;
    /// A fetch settled: `a` the `n` given to `Op::Fetch`, `b` the status (0
    /// for a network error); `Retry-After` (trimmed).
    pub const RESPONSE: u32 = 6;
    /// `pushState`/`replaceState` ran, or `popstate`.
    pub const NAV: u32 = 7;
    /// Visitor input (pointer, key, touch, mouse move).
    pub const ACTIVE: u32 = 8;
    /// A scroll.
    pub const SCROLL: u32 = 9;
    /// `visibilitychange` (`b` 0) or `pagehide` (`b` 1).
    pub const HIDE: u32 = 10;
    /// `click` (`b` 0) or `auxclick` (`b` 1) with `a` the button; when on a
    /// link that leaves the site (`http:`/`https:` to another host than the
    /// page's, a leading `www.` aside): its href.
    pub const CLICK: u32 = 11;
    /// `submit`: form id and name attributes, action; for a
    /// `data-ktra-identify` form the value of its email field, trimmed and
    /// lower case (empty when it has none; none for other forms); then the distinct name
    /// attributes of the controls a visitor fills in (not submit, button,
    /// reset, image or hidden). Never another value.
    pub const SUBMIT: u32 = 12;
    /// `play`/`timeupdate`/`ended` of a `<video>`: type, and the video's id
    /// attribute, else its `currentSrc`; `a` current time, `b` duration.
    pub const MEDIA: u32 = 13;
    /// Names and codes, as `host.js` declares them (checked by a test).
    pub const NAMES: [(&str, u32); 14] = [
        ("START", START),
        ("STOP", STOP),
        ("TRACK", TRACK),
        ("PURCHASE", PURCHASE),
        ("IDENTIFY", IDENTIFY),
        ("TIMER", TIMER),
        ("RESPONSE", RESPONSE),
        ("NAV", NAV),
        ("ACTIVE", ACTIVE),
        ("SCROLL", SCROLL),
        ("HIDE", HIDE),
        ("CLICK", CLICK),
        ("SUBMIT", SUBMIT),
        ("MEDIA", MEDIA),
    ];
}

/// The page, as the pixel sees it. Failures (a throwing DOM call, a
/// missing API) come back as `-1` / `None`.
pub trait Host {
    /// Runs `op` with a string and a number; its numeric result.
    fn num(&self, op: Op, s: &str, n: f64) -> f64;
    /// Runs `op`; its string result.
    fn text(&self, op: Op, s: &str, n: f64) -> Option<String>;

    /// A numeric op without arguments.
    fn get(&self, op: Op) -> f64 {
        self.num(op, "", 0.0)
    }
    /// A string op without arguments (empty for none).
    fn str(&self, op: Op) -> String {
        self.text(op, "", 0.0).unwrap_or_default()
    }
    /// A command with a string.
    fn put(&self, op: Op, s: &str) {
        self.num(op, s, 0.0);
    }
}

/// An event's string arguments (`None`: not a string on the JS side).
pub type Args<'a> = [Option<&'a str>];

/// Argument `i`; empty when absent.
pub fn arg<'a>(args: &Args<'a>, i: usize) -> &'a str {
    args.get(i).copied().flatten().unwrap_or("")
}

/// Most args of one event read; more are dropped (a form with more
/// fields, an object with more props, than the wire format keeps anyway).
pub const MAX_ARGS: usize = 160;

/// Splits the args buffer written by `host.js` (see the module docs) into
/// `out`; returns how many there are. `utf8` turns each piece into text:
/// the bytes come from `TextEncoder`, so the wasm build skips validation
/// (see `web`). A fixed array rather than a `Vec`: no growth code.
pub fn split_args<'a>(buf: &'a [u8], utf8: impl Fn(&'a [u8]) -> &'a str, out: &mut [Option<&'a str>]) -> usize {
    let mut n = 0;
    let mut start = 0;
    for (i, b) in buf.iter().enumerate() {
        if *b == 0xFF {
            let piece = buf.get(start..i).unwrap_or(&[]);
            if let Some(slot) = out.get_mut(n) {
                *slot = if piece == [0xFE] { None } else { Some(utf8(piece)) };
                n += 1;
            }
            start = i + 1;
        }
    }
    n
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    const HOST_JS: &str = include_str!("web/host.js");

    const ALL: [Op; 21] = [
        Op::Href,
        Op::Referrer,
        Op::Title,
        Op::Param,
        Op::Campaign,
        Op::Cookie,
        Op::SetCookie,
        Op::Stored,
        Op::Store,
        Op::Unstore,
        Op::Strip,
        Op::Listen,
        Op::SetTimer,
        Op::ClearTimers,
        Op::Endpoint,
        Op::Fetch,
        Op::Beacon,
        Op::Random,
        Op::Uuid,
        Op::Hidden,
        Op::Scrolled,
    ];

    /// `PageHost` -> `PAGE_HOST`.
    fn screaming(op: Op) -> String {
        let mut out = String::new();
        for (i, c) in format!("{op:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    }

    #[test]
    fn op_names_are_the_ops_in_discriminant_order() {
        for (i, op) in ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
            assert_eq!(screaming(*op), OP_NAMES[i]);
        }
    }

    #[test]
    fn host_js_op_table_matches_op_order() {
        let labels: Vec<&str> = HOST_JS
            .split("/*")
            .filter_map(|s| s.split_once("*/").map(|(l, _)| l))
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
            .collect();
        assert_eq!(labels, OP_NAMES, "host.js OPS labels differ from Op");
    }

    #[test]
    fn host_js_event_codes_match() {
        for (name, code) in ev::NAMES {
            let decl = format!("{name} = {code}");
            assert!(HOST_JS.contains(&decl), "host.js lacks `{decl}`");
        }
    }

    #[test]
    fn args_split_at_ff_with_fe_for_none() {
        let buf = b"a\xff\xfe\xff\xffh\xc3\xa9\xff";
        let mut out = [None; 8];
        let n = split_args(buf, |b| std::str::from_utf8(b).unwrap(), &mut out);
        let args = &out[..n];
        assert_eq!(args, [Some("a"), None, Some(""), Some("h\u{e9}")]);
        assert_eq!(arg(args, 1), "");
        assert_eq!(arg(args, 3), "h\u{e9}");
        assert_eq!(arg(args, 9), "");
        assert_eq!(split_args(b"", |b| std::str::from_utf8(b).unwrap(), &mut out), 0);
        let mut two = [None; 2];
        assert_eq!(
            split_args(b"a\xffb\xffc\xff", |b| std::str::from_utf8(b).unwrap(), &mut two),
            2,
            "the rest dropped"
        );
    }

    #[test]
    fn host_js_campaign_is_ktra_schema_utm() {
        // Every `Utm` field, as the parameter host.js reads.
        let x = || Some(String::from("x"));
        let all = ktra_schema::Utm {
            source: x(),
            medium: x(),
            campaign: x(),
            term: x(),
            content: x(),
            gclid: x(),
            fbclid: x(),
            msclkid: x(),
        };
        let fields = serde_json::to_value(all).unwrap();
        let fields = fields.as_object().unwrap();
        assert_eq!(fields.len(), 8);
        for f in fields.keys() {
            let click_id = f.ends_with("clid") || f == "msclkid";
            let param = if click_id { f.clone() } else { format!("utm_{f}") };
            assert!(HOST_JS.contains(&format!("'{param}'")), "host.js does not read {param}");
        }
    }

    #[test]
    fn host_js_uses_the_storage_key() {
        assert!(HOST_JS.contains(&format!("'{}'", crate::session::STORAGE_KEY)));
    }
}
