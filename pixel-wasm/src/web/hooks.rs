//! What the pixel attaches to the page: one capture-phase listener on
//! `window` for every event type it watches, and wrappers around
//! `history.pushState`/`replaceState`. All of it is owned here and removed
//! by [`Hooks::remove`].
use super::dom::get;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{EventTarget, History, Window};

/// Event types listened to on `window` in the capture phase, which sees
/// events of every element, including ones added later and ones that do not
/// bubble (`submit` in some browsers, media events, element scrolls).
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

type Wrapper = Closure<dyn FnMut(JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>>;

/// One wrapped history method.
struct HistoryHook {
    name: &'static str,
    original: js_sys::Function,
    wrapper: Wrapper,
}

/// The listener and history wrappers of a running pixel.
pub struct Hooks {
    on_event: Closure<dyn FnMut(JsValue)>,
    history: Vec<HistoryHook>,
}

impl Hooks {
    /// Attaches the listener and wraps the history methods.
    pub fn install(win: &Window) -> Option<Hooks> {
        let on_event = Closure::<dyn FnMut(JsValue)>::new(super::on_event);
        let target: &EventTarget = win.as_ref();
        for ty in EVENTS {
            let _ = target.add_event_listener_with_callback_and_bool(ty, on_event.as_ref().unchecked_ref(), true);
        }
        let mut history = Vec::new();
        if let Ok(h) = win.history() {
            for name in ["pushState", "replaceState"] {
                if let Some(hook) = wrap(&h, name) {
                    history.push(hook);
                }
            }
        }
        Some(Hooks { on_event, history })
    }

    /// Detaches everything and drops the closures.
    pub fn remove(self, win: &Window) {
        let target: &EventTarget = win.as_ref();
        for ty in EVENTS {
            let _ = target.remove_event_listener_with_callback_and_bool(ty, self.on_event.as_ref().unchecked_ref(), true);
        }
        if let Ok(h) = win.history() {
            for hook in self.history {
                let current = get(&h, hook.name);
                if current == *hook.wrapper.as_ref() {
                    let _ = js_sys::Reflect::set(&h, &JsValue::from_str(hook.name), &hook.original);
                } else {
                    // Someone wrapped our wrapper: it must keep working (it
                    // only forwards now that the pixel is stopped).
                    hook.wrapper.forget();
                }
            }
        }
    }
}

/// Replaces `history[name]` by a function that calls the original and then
/// tells the pixel a navigation may have happened. Exceptions of the
/// original (bad URL, security error) reach the caller unchanged.
fn wrap(h: &History, name: &'static str) -> Option<HistoryHook> {
    let original: js_sys::Function = get(h, name).dyn_into().ok()?;
    let (this, orig) = (h.clone(), original.clone());
    let wrapper: Wrapper = Closure::new(move |a: JsValue, b: JsValue, c: JsValue| {
        let r = orig.call3(&this, &a, &b, &c);
        if r.is_ok() {
            super::history_changed();
        }
        r
    });
    js_sys::Reflect::set(h, &JsValue::from_str(name), wrapper.as_ref()).ok()?;
    Some(HistoryHook { name, original, wrapper })
}
