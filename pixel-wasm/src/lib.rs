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
//! enrichment (the collector), the wire types themselves (`ktra-schema`,
//! mirrored in [`wire`]).
//!
//! The pure logic lives in modules that compile natively and are unit tested
//! with `cargo test -p ktra-pixel`; `web` binds it to the browser and is
//! tested in headless Chromium with `wasm-bindgen-test`.
//!
//! On wasm the crate is `no_std` (outside tests): a panic is a bare trap
//! rather than std's panic machinery, which would cost more than the whole
//! size budget. Nothing in the pixel is meant to panic.
#![cfg_attr(all(target_arch = "wasm32", not(test)), no_std)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

extern crate alloc;

pub mod batch;
pub mod cookie;
pub mod engage;
pub mod ids;
pub mod json;
pub mod marks;
pub mod retry;
pub mod session;
pub mod url;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod web;
