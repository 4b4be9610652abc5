//! The browser side: the wasm's one import and two exports (the ABI in
//! [`crate::host`]), the global state, the allocator and the panic handler.
//! The page side is `host.js`, bundled with wasm-bindgen's glue into
//! `ktra_pixel.js` by `cargo xtask build-web`.
use crate::host::{Host, Op};
use crate::pixel::{on_event, Pixel};
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;

mod alloc_heap;
mod global;
#[cfg(test)]
mod tests;

use global::Global;

#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    /// `host.js`'s `k_do`: runs op `op` with the string at `ptr` (`len`
    /// bytes) and the number `n`.
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
        String::from_utf8(bytes).ok()
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

/// Export: a call from the page (`host::ev` codes) at `now` ms.
#[allow(unsafe_code)] // `no_mangle` only, as above.
#[no_mangle]
pub extern "C" fn k_ev(code: u32, now: f64, a: f64, b: f64) {
    STATE.with(|s| on_event(s, &Js, code, now, a, b));
}
