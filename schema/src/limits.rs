//! Hard limits on what one request may carry. The collector enforces them;
//! the pixel stays well below them.
//!
//! Defined once in `ktra-facts` (no_std, so the pixel's wasm reads the same
//! numbers) and re-exported here.
pub use ktra_facts::limits::*;
