//! The numeric ABI between the pixel's wasm and its JS host
//! (`src/web/host.js`), and the constants host.js is built with.
//!
//! Only the boundary speaks it: the browser's [`crate::host::Host`]
//! (`web::Js`) turns each typed method into one [`Op`] call, and the wasm
//! entry point `k_ev` decodes each call from the page once into a
//! [`crate::event::PageEvent`]. The core never sees a number of this file.
//!
//! Why not typed bindings (web-sys) or reflection through wasm-bindgen's
//! `JsValue`: each DOM member bound from Rust costs an import, a conversion
//! shim in the wasm and one in the JS glue, and every closure handed to JS
//! another set. The pixel touches ~40 members; bound from Rust that was 19
//! KB gzipped against a 10 KB budget. One numeric import and one numeric
//! export leave wasm-bindgen almost nothing to generate.
//!
//! - wasm → JS: `ktra.k_do(op, ptr, len, n) -> f64`: [`Op`] `op` with a
//!   UTF-8 string in wasm memory and a number. A string result comes back
//!   through the export `k_buf(len) -> ptr`, the call returning its length,
//!   or -1 for none.
//! - JS → wasm: `k_ev(code, now_ms, a, b)`: [`Ev`] `code` with numbers `a`
//!   and `b` as the wasm API converts JS values (`ToNumber`: NaN for a
//!   missing one); the call's strings ("args") written before through
//!   `k_buf`, each followed by [`ARG_END`], [`ARG_NONE`] standing for none
//!   (neither byte occurs in UTF-8).
//!
//! host.js does not write these numbers down: [`js_defines`] lists them
//! (with the facts host.js needs, such as the storage key), `cargo xtask
//! build-web` hands them to esbuild as `--define`s, and the Chromium tests
//! set them as globals before the first call.
#[cfg(any(test, not(target_arch = "wasm32")))]
use alloc::string::String;

/// An enum numbered from 0 in declaration order, with its variants
/// (`ALL`) and their names (`NAMES`, for host.js) in that order.
macro_rules! numbered {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[doc = $doc:literal])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum $name {
            $($(#[doc = $doc])* $variant,)*
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// Each variant's Rust name, in code order (host.js says
            /// `SET_COOKIE` for `SetCookie`).
            pub const NAMES: &'static [&'static str] = &[$(stringify!($variant),)*];

            /// The variant numbered `code`.
            pub fn from_code(code: u32) -> Option<$name> {
                Self::ALL.get(code as usize).copied()
            }
        }
    };
}

numbered! {
    /// What the pixel asks of the page: `k_do`'s `op`. Failures (a throwing
    /// DOM call, a missing API) answer -1 or none.
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
        /// the `ktra_facts::campaign` parameters as their `Utm` fields,
        /// trimmed, cut to 512 characters, empty ones left out; none
        /// without any.
        Campaign,
        /// The value of the cookie named by the string.
        Cookie,
        /// Sets a cookie: the string is `name=value`, `n` its `Max-Age` (0
        /// deletes it); host-only, `Path=/`, `SameSite=Lax`, `Secure` on https.
        SetCookie,
        /// The stored session (`localStorage`, key
        /// `ktra_facts::names::SESSION_STORAGE_KEY`).
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
        /// Fires [`Ev::Timer`] with `a` = the task named by the string (its
        /// code as a digit) in `n` ms, or earlier if that task's timer is
        /// already due earlier (one timer per task).
        SetTimer,
        /// Clears every timer.
        ClearTimers,
        /// Sets the URL requests go to.
        Endpoint,
        /// `fetch(endpoint, POST s, keepalive)`; 1 when under way. It settles
        /// with an [`Ev::Response`] carrying `n` back.
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
}

numbered! {
    /// What the page tells the pixel: `k_ev`'s `code`, with its strings
    /// (args) and numbers `a`, `b`. [`crate::event::PageEvent::decode`]
    /// reads them.
    pub enum Ev {
        /// `start(cfg)`: endpoint, site, token; `a` consent expiry (Unix seconds).
        Start,
        /// `stop()`.
        Stop,
        /// `track(name, props)`: name (trimmed), then props as key, typed value pairs
        /// (`s…` string, `n…` finite number as JS prints it, which is JSON,
        /// `b…` boolean).
        Track,
        /// `purchase(order)`: order id, value (a finite number as JSON text),
        /// currency (trimmed, upper case), product id, product name (ids: strings, or numbers as
        /// text), then the object's other keys as typed pairs like `Track`'s.
        Purchase,
        /// `identify(who)`: email (trimmed, lower case), lead id.
        Identify,
        /// A task's timer fired: `a` the task's code.
        Timer,
        /// A fetch settled: `a` the `n` given to `Op::Fetch`, `b` the status (0
        /// for a network error); `Retry-After` (trimmed).
        Response,
        /// `pushState`/`replaceState` ran, or `popstate`.
        Nav,
        /// Visitor input (pointer, key, touch, mouse move).
        Active,
        /// A scroll.
        Scroll,
        /// `visibilitychange` (`b` 0) or `pagehide` (`b` 1).
        Hide,
        /// `click` (`b` 0) or `auxclick` (`b` 1) with `a` the button; when on a
        /// link that leaves the site (`http:`/`https:` to another host than the
        /// page's, a leading `www.` aside): its href.
        Click,
        /// `submit`: form id and name attributes, action; for a
        /// `data-ktra-identify` form the value of its email field, trimmed and
        /// lower case (empty when it has none; none for other forms); then the distinct name
        /// attributes of the controls a visitor fills in (not submit, button,
        /// reset, image or hidden). Never another value.
        Submit,
        /// `play`/`timeupdate`/`ended` of a `<video>`: type, and the video's id
        /// attribute, else its `currentSrc`; `a` current time, `b` duration.
        Media,
    }
}

/// Ends each string of an event's args.
pub const ARG_END: u8 = 0xFF;
/// Stands, alone, for a string that is none.
pub const ARG_NONE: u8 = 0xFE;

/// An event's string arguments (`None`: not a string on the JS side).
pub type Args<'a> = [Option<&'a str>];

/// Argument `i`; empty when absent. One copy, called: inlined, each of its
/// dozen uses costs the wasm more than a call.
#[inline(never)]
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
        if *b == ARG_END {
            let piece = buf.get(start..i).unwrap_or(&[]);
            if let Some(slot) = out.get_mut(n) {
                *slot = if piece == [ARG_NONE] { None } else { Some(utf8(piece)) };
                n += 1;
            }
            start = i + 1;
        }
    }
    n
}

/// The constants host.js is built with, as (name, JS expression): `OP.*`
/// and `EV.*` the codes of [`Op`] and [`Ev`] (`OP.SET_COOKIE`), `ARG.*`
/// the args markers, `NAME.*` the first-party names it uses, `CAMPAIGN.*`
/// the campaign's parameters, their prefix and the longest value taken
/// (`ktra_facts`). The one source of host.js's numbers and names: `cargo
/// xtask build-web` passes each to esbuild as `--define:NAME=VALUE`, the
/// Chromium tests set them as globals.
#[cfg(any(test, not(target_arch = "wasm32")))]
pub fn js_defines() -> alloc::vec::Vec<(String, String)> {
    use alloc::format;
    let mut out = alloc::vec::Vec::new();
    for (space, names) in [("OP", Op::NAMES), ("EV", Ev::NAMES)] {
        for (code, name) in names.iter().enumerate() {
            out.push((format!("{space}.{}", screaming(name)), format!("{code}")));
        }
    }
    out.push((String::from("ARG.END"), format!("{ARG_END}")));
    out.push((String::from("ARG.NONE"), format!("{ARG_NONE}")));
    let key = ktra_facts::names::SESSION_STORAGE_KEY;
    out.push((String::from("NAME.SESSION_STORAGE_KEY"), format!("\"{key}\"")));
    let params: alloc::vec::Vec<String> =
        ktra_facts::campaign::PARAMS.iter().map(|(param, _)| format!("\"{param}\"")).collect();
    out.push((String::from("CAMPAIGN.PARAMS"), format!("[{}]", params.join(","))));
    out.push((String::from("CAMPAIGN.PREFIX"), format!("\"{}\"", ktra_facts::campaign::UTM_PREFIX)));
    out.push((String::from("CAMPAIGN.MAX_BYTES"), format!("{}", ktra_facts::limits::MAX_CAMPAIGN_LEN)));
    out
}

/// `SetCookie` → `SET_COOKIE`.
#[cfg(any(test, not(target_arch = "wasm32")))]
fn screaming(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(b: &[u8]) -> &str {
        core::str::from_utf8(b).unwrap()
    }

    #[test]
    fn args_split_at_the_end_marker_with_none_for_none() {
        let buf = b"a\xff\xfe\xff\xffh\xc3\xa9\xff";
        let mut out = [None; 8];
        let n = split_args(buf, utf8, &mut out);
        let args = &out[..n];
        assert_eq!(args, [Some("a"), None, Some(""), Some("h\u{e9}")]);
        assert_eq!(arg(args, 1), "");
        assert_eq!(arg(args, 3), "h\u{e9}");
        assert_eq!(arg(args, 9), "");
        assert_eq!(split_args(b"", utf8, &mut out), 0);
        let mut two = [None; 2];
        assert_eq!(split_args(b"a\xffb\xffc\xff", utf8, &mut two), 2, "the rest dropped");
    }

    #[test]
    fn codes_are_declaration_order() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
            assert_eq!(Op::from_code(i as u32), Some(*op));
        }
        assert_eq!(Op::from_code(Op::ALL.len() as u32), None);
        assert_eq!(Ev::from_code(Ev::Media as u32), Some(Ev::Media));
    }

    #[test]
    fn host_js_constants() {
        let defines = js_defines();
        let get = |k: &str| defines.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
        assert_eq!(get("OP.SET_COOKIE"), Some(format!("{}", Op::SetCookie as u32).as_str()));
        assert_eq!(get("EV.MEDIA"), Some(format!("{}", Ev::Media as u32).as_str()));
        assert_eq!(get("ARG.NONE"), Some("254"));
        assert_eq!(get("NAME.SESSION_STORAGE_KEY"), Some("\"ktra_sess\""));
        let params = get("CAMPAIGN.PARAMS").unwrap();
        assert!(params.starts_with("[\"utm_source\",") && params.ends_with(",\"msclkid\"]"), "{params}");
        assert_eq!(get("CAMPAIGN.PREFIX"), Some("\"utm_\""));
        assert_eq!(get("CAMPAIGN.MAX_BYTES"), Some("256"));
        assert_eq!(defines.len(), Op::ALL.len() + Ev::ALL.len() + 6);
    }
}
