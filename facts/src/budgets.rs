//! Size budgets of the browser assets: gzip -9 bytes of the built files
//! (`cargo xtask build-web` prints them, `cargo xtask test` fails above
//! them). Each is the product target and the hard limit at once.

/// The loader, `ktra.js`: on every page of the site, before any consent.
pub const LOADER_GZ_BYTES: u64 = 1536;
/// The banner, `banner.js` + `banner.css`: fetched when the banner shows.
pub const BANNER_GZ_BYTES: u64 = 6144;
/// The pixel, `pixel/ktra_pixel_bg.wasm` + `pixel/ktra_pixel.js` (its JS
/// host): fetched once the visitor consented.
pub const PIXEL_GZ_BYTES: u64 = 10240;
