//! The browser side: the wasm's one import and two exports (the ABI in
//! [`crate::host`]), the global state, the allocator and the panic handler.
//! The page side is `host.js`, minified into `ktra_pixel.js` by `cargo xtask
//! build-web`; it loads the wasm itself.
//!
//! No wasm-bindgen in the shipped module: with one numeric import and two
//! numeric exports there is nothing for it to bind, and its generated glue
//! and runtime were 1.1 KB of the 10 KB gzipped budget. The Chromium tests
//! (`cargo test --target wasm32-unknown-unknown`) run under
//! wasm-bindgen-test, which imports the very same `host.js` through
//! wasm-bindgen instead.
use crate::host::{split_args, Host, Op, MAX_ARGS};
use crate::pixel::{on_event, Pixel};
use alloc::string::String;
use alloc::vec::Vec;
#[cfg(test)]
use wasm_bindgen::prelude::*;

mod alloc_heap;
mod global;
#[cfg(test)]
mod tests;

use global::Global;

// `host.js`'s `k_do`: runs op `op` with the string at `ptr` (`len` bytes)
// and the number `n`. The shipped module imports it as `ktra.k_do`; under
// wasm-bindgen-test, wasm-bindgen imports it from the same file.
#[cfg(not(test))]
#[link(wasm_import_module = "ktra")]
extern "C" {
    #[link_name = "k_do"]
    fn k_do_import(op: u32, ptr: *const u8, len: usize, n: f64) -> f64;
}

#[cfg(not(test))]
#[allow(unsafe_code)]
fn k_do(op: u32, ptr: *const u8, len: usize, n: f64) -> f64 {
    // SAFETY: `k_do` reads the `len` bytes at `ptr` (a live `&str`) and
    // writes only into the area `k_buf` hands out, which no Rust reference
    // borrows during the call.
    unsafe { k_do_import(op, ptr, len, n) }
}

#[cfg(test)]
#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    fn k_do(op: u32, ptr: *const u8, len: usize, n: f64) -> f64;
}

/// The page as reached through `host.js`.
#[derive(Clone)]
pub struct Js;

impl Host for Js {
    fn num(&self, op: Op, s: &str, n: f64) -> f64 {
        k_do(op as u32, s.as_ptr(), s.len(), n)
    }

    fn text(&self, op: Op, s: &str, n: f64) -> Option<String> {
        if self.num(op, s, n) < 0.0 {
            return None;
        }
        // `k_do` put the string where `k_buf` said (a string op always
        // calls `k_buf`, so the scratch is never stale).
        let bytes = SCRATCH.with(core::mem::take)?;
        #[allow(unsafe_code)]
        // SAFETY: as in `utf8`: `host.js` wrote `TextEncoder` output.
        Some(unsafe { String::from_utf8_unchecked(bytes) })
    }
}

/// The running pixel, if any.
static STATE: Global<Option<Pixel<Js>>> = Global::new(None);
/// Where `host.js` writes a string for the pixel.
static SCRATCH: Global<Vec<u8>> = Global::new(Vec::new());

#[global_allocator]
static HEAP: alloc_heap::Heap = alloc_heap::Heap::new();

/// Nothing in the pixel is meant to panic; if something does anyway, the
/// call traps (`host.js` catches it) without the std panic machinery.
#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Export: room for a `len`-byte string from `host.js`; returns where to
/// write it.
#[allow(unsafe_code)] // `no_mangle` only: a plain wasm export, no wasm-bindgen shim.
#[no_mangle]
pub extern "C" fn k_buf(len: usize) -> *mut u8 {
    SCRATCH
        .with(|v| {
            v.clear();
            v.resize(len, 0);
            v.as_mut_ptr()
        })
        .unwrap_or(core::ptr::null_mut())
}

/// Export: a call from the page (`host::ev` codes) at `now` ms, its
/// strings in the scratch area.
#[allow(unsafe_code)] // `no_mangle` only, as above.
#[no_mangle]
pub extern "C" fn k_ev(code: u32, now: f64, a: f64, b: f64) {
    let Some(buf) = SCRATCH.with(core::mem::take) else { return };
    let mut args = [None; MAX_ARGS];
    let n = split_args(&buf, utf8, &mut args);
    STATE.with(|s| on_event(s, &Js, args.get(..n).unwrap_or(&[]), code, now, a, b));
}

/// Bytes written by `host.js` as text.
#[allow(unsafe_code)]
fn utf8(b: &[u8]) -> &str {
    // SAFETY: `host.js` writes only `TextEncoder` output (UTF-8) between
    // its 0xFF/0xFE markers, and `split_args` cuts at those markers only.
    unsafe { core::str::from_utf8_unchecked(b) }
}
