//! `ktra-facts` — the facts several parts of ktra (and two languages) share,
//! each defined once: the wire limits ([`limits`]), the event type names
//! ([`events`]), the campaign parameters ([`campaign`]), the first-party
//! names ([`names`]) and the size budgets of the browser assets
//! ([`budgets`]).
//!
//! Who reads them:
//! - `ktra-schema` re-exports them (`ktra_schema::limits` is [`limits`],
//!   `EventType::as_str` answers [`events`]), so the collector, the tests and
//!   the benches see one definition;
//! - the pixel (`ktra-pixel`) uses them directly. It cannot depend on
//!   `ktra-schema`: the pixel is `no_std` on wasm, and a dependency on a std
//!   crate links std's panic machinery into it (+1.1 KB gzipped, measured,
//!   against a 10 KB budget);
//! - `xtask` enforces [`budgets`] on the built assets, and generates the
//!   constants of the pixel's JS host from the Rust definitions (see
//!   `ktra-pixel`'s `abi` module).
//!
//! Does not own: types, parsing and validation (`ktra-schema`), the pixel's
//! ABI between its wasm and its JS host (`ktra-pixel`).
//!
//! `no_std`, no dependencies, nothing but constants: it costs the pixel
//! only the constants it uses.
#![no_std]

pub mod budgets;
pub mod campaign;
pub mod events;
pub mod limits;
pub mod names;
