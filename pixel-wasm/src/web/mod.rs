//! The browser side: the functions the loader calls, and the callbacks the
//! page calls back (events, timer, fetch results, history changes). Every
//! entry point catches everything: a failure leaves the page working and,
//! at worst, the pixel inert.
use wasm_bindgen::prelude::*;

mod collect;
mod dom;
mod global;
mod hooks;
mod pixel;
mod send;
#[cfg(test)]
mod tests;

use dom::now;
use global::Global;

/// The running pixel, if any.
static STATE: Global<pixel::Pixel> = Global::new();

#[cfg(not(test))]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Nothing in the pixel is meant to panic; if something does anyway, the
/// call traps (the page sees an exception from that one call) without the
/// std panic machinery.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Starts the pixel: `{endpoint, site, token, exp}` (consent expiry in Unix
/// seconds). Sets `ktra_vid`/`ktra_sid`, reports the page view and starts
/// listening. Calling it again while running only refreshes the consent.
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

/// A purchase: `{order_id, value, currency, product_id, product_name}`.
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
fn on_event(ev: JsValue) {
    let now = now();
    let ev: web_sys::Event = ev.unchecked_into();
    STATE.with(|p| p.handle(&ev, now));
}

/// The timer fired. Stops the pixel once the consent has expired.
fn tick() {
    let now = now();
    let expired = STATE.with(|p| {
        if now >= p.exp_ms() {
            return true;
        }
        p.tick(now);
        false
    });
    if expired == Some(true) {
        pixel::stop();
    }
}

/// A fetch settled.
fn on_response(seq: u32, v: JsValue) {
    let now = now();
    STATE.with(|p| {
        let r = p.rand01();
        p.send.response(seq, &v, now, r, &p.win);
    });
}

/// `pushState`/`replaceState` ran: look at the URL shortly.
fn history_changed() {
    let now = now();
    STATE.with(|p| p.send.schedule(send::Task::Nav, now + 100.0, &p.win));
}

