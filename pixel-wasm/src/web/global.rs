//! The pixel's global state cells.
//!
//! This is one of the crate's two `unsafe` modules: `wasm32-unknown-unknown`
//! without the `atomics` target feature has exactly one thread, so a
//! `RefCell` in a `static` can never be reached from two threads. (On std a
//! `thread_local!` would do, but the pixel is `no_std`; see the crate docs.)
#![allow(unsafe_code)]

use core::cell::RefCell;

#[cfg(target_feature = "atomics")]
compile_error!("ktra-pixel assumes single-threaded wasm (no `atomics` target feature)");

/// A global value.
pub struct Global<T>(RefCell<T>);

// SAFETY: single-threaded target (checked above); see the module docs.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// A cell holding `v`.
    pub const fn new(v: T) -> Self {
        Global(RefCell::new(v))
    }

    /// Runs `f` on the value; `None` when the cell is already borrowed (a
    /// re-entrant call), which is then skipped rather than panicking into
    /// the page.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        Some(f(&mut *self.0.try_borrow_mut().ok()?))
    }
}
