//! The browser side: the functions the loader calls, and the callbacks the
//! page calls back (events, timer, fetch results, history changes). Every
//! entry point catches everything: a failure leaves the page working and,
//! at worst, the pixel inert.
use wasm_bindgen::prelude::*;

mod alloc;
mod collect;
mod global;
mod hooks;
pub mod js;
mod pixel;
mod send;
#[cfg(test)]
mod tests;

use global::Global;
use js::now;

/// The running pixel, if any.
static STATE: Global<pixel::Pixel> = Global::new();

#[global_allocator]
static HEAP: alloc::Heap = alloc::Heap::new();

/// Nothing in the pixel is meant to panic; if something does anyway, the
/// call traps (the page sees an exception from that one call) without the
/// std panic machinery.
#[cfg(not(feature = "std"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The one closure type handed to JS: listeners, the timer, fetch results
/// and the history proxies all take up to three arguments. One type means
/// one set of conversion shims in the wasm and the glue.
pub type Callback = Closure<dyn FnMut(JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>>;

/// Starts the pixel: `{endpoint, site, token, exp}` (consent expiry in Unix
/// seconds). Sets `ktra_vid`/`ktra_sid`, reports the page view and starts
/// listening, in a task of its own right after this call. Calling it again
/// while running only refreshes the consent.
#[wasm_bindgen]
pub fn start(cfg: JsValue) {
    pixel::start(&cfg);
}

/// Stops the pixel (consent withdrawn): removes its listeners, timer and
/// history wrappers, drops unsent events, deletes `ktra_vid`, `ktra_sid`
/// and the stored session.
#[wasm_bindgen]
pub fn stop() {
    pixel::stop();
}

/// A custom event: `track(name, props)` with a flat object of strings,
/// numbers and booleans.
#[wasm_bindgen]
pub fn track(name: JsValue, props: JsValue) {
    let now = now();
    STATE.with(|p| p.custom(&name, &props, now));
}

/// A purchase: `{order_id, value, currency, product_id, product_name}`;
/// other flat keys are kept as props.
#[wasm_bindgen]
pub fn purchase(order: JsValue) {
    let now = now();
    STATE.with(|p| p.purchase(&order, now));
}

/// Links the visitor to a lead: `{email}` or `{lead_id}`.
#[wasm_bindgen]
pub fn identify(who: JsValue) {
    let now = now();
    STATE.with(|p| p.identify(&who, now));
}

/// A page event.
fn on_event(ev: &JsValue) {
    let now = now();
    STATE.with(|p| p.handle(ev, now));
}

/// The timer fired. Stops the pixel once the consent has expired.
fn on_timer() {
    let now = now();
    if STATE.with(|p| p.tick(now)) == Some(false) {
        pixel::stop();
    }
}

/// A fetch of sender generation `gen` settled with `v`.
fn on_response(gen: u32, v: &JsValue) {
    let now = now();
    STATE.with(|p| {
        let r = p.rand01();
        p.send.response(gen, v, now, r);
    });
}

/// `pushState`/`replaceState` ran: look at the URL shortly.
fn on_history() {
    let now = now();
    STATE.with(|p| p.nav_soon(now));
}
