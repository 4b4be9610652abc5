//! What the pixel attaches to the page: one capture-phase listener on
//! `window` for every event type it watches, and proxies around
//! `history.pushState`/`replaceState`. All of it is owned here and removed
//! by [`Hooks::remove`].
use super::js::{call, construct, get, object, set};
use super::Callback;
use wasm_bindgen::prelude::*;

/// Event types listened to on `window` in the capture phase, which sees
/// events of every element, including ones added later and ones that do not
/// bubble (media events, element scrolls).
pub const EVENTS: [&str; 14] = [
    "click",
    "auxclick",
    "submit",
    "play",
    "timeupdate",
    "ended",
    "scroll",
    "popstate",
    "visibilitychange",
    "pagehide",
    "pointerdown",
    "keydown",
    "touchstart",
    "mousemove",
];

const HISTORY: [&str; 2] = ["pushState", "replaceState"];

/// One proxied history method.
struct HistoryHook {
    name: &'static str,
    original: JsValue,
    proxy: JsValue,
    trap: Callback,
}

/// The listener and history proxies of a running pixel.
pub struct Hooks {
    win: JsValue,
    on_event: Callback,
    history: [Option<HistoryHook>; 2],
}

impl Hooks {
    /// Attaches the listener and proxies the history methods.
    pub fn install(win: &JsValue) -> Hooks {
        let on_event: Callback = Closure::new(|ev: JsValue, _, _| {
            super::on_event(&ev);
            Ok(JsValue::UNDEFINED)
        });
        listen(win, "addEventListener", &on_event);
        let hist = get(win, "history");
        Hooks { win: win.clone(), on_event, history: HISTORY.map(|name| wrap(&hist, name)) }
    }

    /// Detaches everything and drops the closures.
    pub fn remove(self) {
        listen(&self.win, "removeEventListener", &self.on_event);
        let hist = get(&self.win, "history");
        for hook in self.history.into_iter().flatten() {
            if get(&hist, hook.name) == hook.proxy {
                set(&hist, hook.name, &hook.original);
            } else {
                // Someone wrapped our proxy: it must keep working (it only
                // forwards now that the pixel is stopped).
                hook.trap.forget();
            }
        }
    }
}

fn listen(win: &JsValue, method: &str, f: &Callback) {
    for ty in EVENTS {
        call(win, method, &JsValue::from_str(ty), f.as_ref(), &JsValue::TRUE);
    }
}

/// Replaces `history[name]` by a `Proxy` whose `apply` trap calls the
/// original with the caller's `this` and arguments, then tells the pixel a
/// navigation may have happened. The original's result and exceptions
/// reach the caller unchanged, and the proxy still looks native.
fn wrap(hist: &JsValue, name: &'static str) -> Option<HistoryHook> {
    let original = get(hist, name);
    if !original.is_function() {
        return None;
    }
    let trap: Callback = Closure::new(|target: JsValue, this: JsValue, args: JsValue| {
        let r = super::js::reflect_apply(&target, &this, &args);
        if r.is_ok() {
            super::on_history();
        }
        r
    });
    let handler = object();
    set(&handler, "apply", trap.as_ref());
    let proxy = construct("Proxy", &original, &handler)?;
    if !set(hist, name, &proxy) {
        return None;
    }
    Some(HistoryHook { name, original, proxy, trap })
}
