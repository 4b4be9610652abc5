//! The browser side: the wasm's one import and two exports (the ABI in
//! [`crate::abi`]) behind the typed [`Host`] and [`PageEvent`], the global
//! state, the allocator and the panic handler.
//! The page side is `host.js`, minified into `ktra_pixel.js` by `cargo xtask
//! build-web`; it loads the wasm itself.
//!
//! No wasm-bindgen in the shipped module: with one numeric import and two
//! numeric exports there is nothing for it to bind, and its generated glue
//! and runtime were 1.1 KB of the 10 KB gzipped budget. The Chromium tests
//! (`cargo test --target wasm32-unknown-unknown`) run under
//! wasm-bindgen-test, which imports the very same `host.js` through
//! wasm-bindgen instead.
use crate::abi::{split_args, Op, MAX_ARGS};
use crate::event::PageEvent;
use crate::host::{Host, Task};
use crate::json::hex_digit;
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

/// Runs `op` with a string and a number; its numeric result.
#[inline(always)]
fn num(op: Op, s: &str, n: f64) -> f64 {
    k_do(op as u32, s.as_ptr(), s.len(), n)
}

/// Runs `op` without arguments; its string result, empty for none.
fn str(op: Op) -> String {
    text(op, "").unwrap_or_default()
}

/// Runs `op`; its string result.
fn text(op: Op, s: &str) -> Option<String> {
    if num(op, s, 0.0) < 0.0 {
        return None;
    }
    // `k_do` put the string where `k_buf` said (a string op always
    // calls `k_buf`, so the scratch is never stale).
    let bytes = SCRATCH.with(core::mem::take)?;
    #[allow(unsafe_code)]
    // SAFETY: as in `utf8`: `host.js` wrote `TextEncoder` output.
    Some(unsafe { String::from_utf8_unchecked(bytes) })
}

/// The page as reached through `host.js`: each method one op.
#[derive(Clone)]
pub struct Js;

impl Host for Js {
    fn href(&self) -> String {
        str(Op::Href)
    }
    fn referrer(&self) -> String {
        str(Op::Referrer)
    }
    fn title(&self) -> String {
        str(Op::Title)
    }
    fn param(&self, name: &str) -> Option<String> {
        text(Op::Param, name)
    }
    fn campaign(&self) -> String {
        str(Op::Campaign)
    }
    fn hidden(&self) -> bool {
        num(Op::Hidden, "", 0.0) == 1.0
    }
    fn scrolled(&self) -> f64 {
        num(Op::Scrolled, "", 0.0)
    }
    fn cookie(&self, name: &str) -> Option<String> {
        text(Op::Cookie, name)
    }
    fn set_cookie(&self, name_value: &str, max_age_s: u64) {
        num(Op::SetCookie, name_value, max_age_s as f64);
    }
    fn stored(&self) -> String {
        str(Op::Stored)
    }
    fn store(&self, session: &str) {
        num(Op::Store, session, 0.0);
    }
    fn unstore(&self) {
        num(Op::Unstore, "", 0.0);
    }
    fn strip_param(&self, name: &str) -> bool {
        num(Op::Strip, name, 0.0) == 1.0
    }
    fn listen(&self, on: bool) {
        num(Op::Listen, "", f64::from(u8::from(on)));
    }
    fn set_timer(&self, task: Task, ms: f64) {
        // The task's code as the string: host.js keeps one timer per string.
        num(Op::SetTimer, hex_digit(task as u8), ms);
    }
    fn clear_timers(&self) {
        num(Op::ClearTimers, "", 0.0);
    }
    fn set_endpoint(&self, url: &str) {
        num(Op::Endpoint, url, 0.0);
    }
    fn fetch(&self, body: &str, request: u32) -> bool {
        num(Op::Fetch, body, f64::from(request)) > 0.0
    }
    fn beacon(&self, body: &str) -> bool {
        num(Op::Beacon, body, 0.0) == 1.0
    }
    fn random(&self) -> f64 {
        num(Op::Random, "", 0.0)
    }
    fn uuid(&self) -> String {
        str(Op::Uuid)
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

/// Export: a call from the page (an `abi::Ev` code) at `now` ms, its
/// strings in the scratch area; decoded here, once.
#[allow(unsafe_code)] // `no_mangle` only, as above.
#[no_mangle]
pub extern "C" fn k_ev(code: u32, now: f64, a: f64, b: f64) {
    let Some(buf) = SCRATCH.with(core::mem::take) else { return };
    let mut args = [None; MAX_ARGS];
    let n = split_args(&buf, utf8, &mut args);
    STATE.with(|s| {
        if let Some(event) = PageEvent::decode(code, args.get(..n).unwrap_or(&[]), a, b) {
            on_event(s, &Js, event, now);
        }
    });
}

/// Bytes written by `host.js` as text.
#[allow(unsafe_code)]
fn utf8(b: &[u8]) -> &str {
    // SAFETY: `host.js` writes only `TextEncoder` output (UTF-8) between
    // its 0xFF/0xFE markers, and `split_args` cuts at those markers only.
    unsafe { core::str::from_utf8_unchecked(b) }
}
