//! The pixel's one piece of global state.
//!
//! This is the crate's only `unsafe`: `wasm32-unknown-unknown` without the
//! `atomics` target feature has exactly one thread, so a `RefCell` in a
//! `static` can never be reached from two threads. (On std a `thread_local!`
//! would do, but the pixel is `no_std`; see the crate docs.)
#![allow(unsafe_code)]

use core::cell::RefCell;

#[cfg(target_feature = "atomics")]
compile_error!("ktra-pixel assumes single-threaded wasm (no `atomics` target feature)");

/// A cell holding `Some(T)` while the pixel runs.
pub struct Global<T>(RefCell<Option<T>>);

// SAFETY: single-threaded target (checked above); see the module docs.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        Global(RefCell::new(None))
    }

    /// Runs `f` on the value. `None` when there is none, or when the cell is
    /// already borrowed (a re-entrant call): the call is then skipped rather
    /// than panicking into the page.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.0.try_borrow_mut().ok()?.as_mut().map(f)
    }

    /// Stores `v` unless a value is there already; gives `v` back if so.
    pub fn put(&self, v: T) -> Result<(), T> {
        match self.0.try_borrow_mut() {
            Ok(mut g) if g.is_none() => {
                *g = Some(v);
                Ok(())
            }
            _ => Err(v),
        }
    }

    /// Takes the value out.
    pub fn take(&self) -> Option<T> {
        self.0.try_borrow_mut().ok()?.take()
    }
}
