//! `ktra-pixel` — the ktra browser pixel, Rust compiled to
//! `wasm32-unknown-unknown` and loaded by the consent loader (`ktra.js`) only
//! after the visitor granted analytics and marketing consent.
//!
//! Owns: the `ktra_vid`/`ktra_sid` cookies and the session's stored campaign,
//! collecting page views (SPA navigations too), scroll depth, engagement
//! time, form submissions, HTML5 video milestones, outbound clicks, email
//! clicks (`ktra_ec`), purchases, custom and identify events, and delivering
//! them in batches to the collector's `POST /v1/events` with retries.
//!
//! Does not own: consent (the banner and the collector), validation and
//! enrichment (the collector), the wire types themselves (`ktra-schema`;
//! the event names and limits the pixel follows come from `ktra-facts`,
//! which `ktra-schema` re-exports, see [`wire`]; tests decode what the
//! pixel writes with `ktra-schema`'s types and validation).
//!
//! # How it is built
//! Two parts, shipped as `pixel/ktra_pixel.js` and `pixel/ktra_pixel_bg.wasm`:
//! - the host, `src/web/host.js` (hand-written, minified): it loads the
//!   wasm, listens to the page, and reads and writes the platform (DOM,
//!   cookies, storage, history, timers, fetch, sendBeacon) when asked —
//!   wiring, with three product rules it keeps for size (below);
//! - the core, this crate: every other decision (visitor and session,
//!   which events, milestones, engagement, batching, retries, the wire
//!   JSON).
//!   It works on typed values: what the page says arrives as an
//!   [`event::PageEvent`], what the pixel asks goes through the typed
//!   methods of [`host::Host`]. So it runs natively against a simulated
//!   page in tests (`sim`), and in the browser over one import.
//!
//! [`abi`] is the numeric ABI between the two halves (spoken only at the
//! boundary, `web`) and says why it replaced wasm-bindgen's glue and
//! web-sys: size. Gzipped, wasm + host JS is ~10.2 KB (budget 10 KB,
//! `ktra_facts::budgets`, enforced by `cargo xtask test`), from 19 KB with
//! bindings.
//!
//! # What stays in JS, and why
//! Each was moved into Rust and measured (gzipped, wasm + host JS, against
//! the 10 240 B budget), and moved back:
//! - the landing's campaign (`Op::Campaign`): +228 B in Rust (wasm +356,
//!   JS -128). Its facts are not written in JS: the parameters, their
//!   prefix and the longest value come from `ktra_facts` at build.
//! - which link leaves the site (`Ev::Click`): +188 B with JS passing the
//!   link's and the page's host names, more when Rust parses the URLs.
//! - which controls of a form are fields, and which one holds the email of
//!   a `data-ktra-identify` form (`Ev::Submit`): over +1 KB, and reading
//!   the values of all fields into Rust to choose would be worse for
//!   privacy than choosing where they are.
//!
//! # Contract with the loader and the collector
//! - `ktra_pixel.js` exports: `default({module_or_path})` (loads the wasm),
//!   `start({endpoint, site, token, exp})` (`exp`: consent expiry, Unix
//!   seconds), `stop()`, `track(name, props)`, `purchase({order_id, value,
//!   currency, product_id, product_name, ...})`, `identify({email} |
//!   {lead_id})`. None throws; bad input is ignored. `start` while running
//!   only takes the new token and expiry. `start` with an expired `exp`
//!   does nothing. `start` itself only reads the configuration and the
//!   landing URL; the rest (listeners, cookies, session, first page view)
//!   runs in a timer task right after, or before the first API call if
//!   that comes first.
//! - SPA navigations (`pushState`, `replaceState`, `popstate`) are looked at
//!   100 ms later, so that the new title is set and quick redirects
//!   collapse; an event in that window is taken after the navigation (an
//!   autoplaying video belongs to the new page).
//! - Requests: `POST {endpoint}/v1/events`, body a `ktra_schema::Batch` as
//!   `text/plain;charset=UTF-8` (no preflight), by `fetch` with
//!   `keepalive`, or `navigator.sendBeacon` when the page is hidden or left.
//!   At most 50 events and 32 KiB per body. The collector must answer
//!   with `Access-Control-Allow-Origin` (the pixel reads the status) and
//!   expose `Retry-After` (`Access-Control-Expose-Headers`). Retried:
//!   network errors, 408, 429, 5xx but 501/505 (backoff 1 s doubling to
//!   60 s with jitter, at least `Retry-After` seconds, 8 attempts), with the
//!   same body and event ids. Other statuses are final.
//! - Cookies, host-only, `Path=/`, `SameSite=Lax`, `Secure` on https:
//!   `ktra_vid=<uuid>.<created unix s>` (the batch `vid` is the part before
//!   the dot; life: creation + 390 days, never past `exp`, not extended by
//!   visits) and `ktra_sid=<uuid>` (`Max-Age=1800`, re-set at most once a
//!   minute while the visitor is active, never past `exp`).
//! - `localStorage["ktra_sess"] = "<sid>\n<ec>\n<utm json>"`: the
//!   campaign and email click id of the landing that started the session.
//! - Sessions: the `ktra_sid` cookie, shared by the site's tabs. A new one
//!   when it is gone (30 minutes without activity in any tab), or when the
//!   landing URL carries UTMs/click ids (or a `ktra_ec`) other than the
//!   session's own. Another tab's new session is followed. A new session's
//!   batches carry its `utm`/`ec`. `ktra_vid` gone (consent withdrawn in
//!   another tab) stops the pixel.
//! - `engagement` events carry increments: sum `engaged_ms` per page view.
//!   Time counts while the page is visible and the visitor gave input in
//!   the last 30 s.
//! - `stop()` removes listeners, timers and history proxies, drops unsent
//!   events, and deletes `ktra_vid`, `ktra_sid` and `ktra_sess`.
//!
//! Tests: unit tests per module and scenario tests on a simulated page
//! (`sim`) with `cargo test -p ktra-pixel`; the host and core together in
//! headless Chromium with `wasm-bindgen-test` (`web::tests`, which imports
//! `host.js` through wasm-bindgen); the shipped files end to end through the
//! loader in `tests/tests/browser_pixel.rs`.
//!
//! On wasm the crate is `no_std` (outside tests): a panic is a bare trap
//! rather than std's panic machinery, which would cost more than the whole
//! size budget. Nothing in the pixel is meant to panic (the build also
//! drops the standard library's panic-message data: `xtask/src/scrub.rs`).
#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
// One-byte `push_str` on purpose: `String::push(char)` encodes UTF-8, code
// the wasm otherwise does without.
#![allow(clippy::single_char_add_str)]

extern crate alloc;

pub mod abi;
pub mod batch;
mod collect;
pub mod cookie;
pub mod engage;
pub mod event;
pub mod host;
pub mod ids;
pub mod json;
pub mod marks;
pub mod pixel;
pub mod retry;
pub mod send;
pub mod session;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod sim;
#[cfg(not(target_arch = "wasm32"))]
pub mod size;
pub mod url;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod web;
