//! Small browser helpers that never throw into Rust: property reads through
//! `Reflect`, numbers formatted by JS, randomness, time.
use alloc::string::String;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// A promise, as far as `then` goes.
    pub type Thenable;
    /// `promise.then(f, f)` with a plain JS function for both outcomes.
    #[wasm_bindgen(method, js_name = then)]
    pub fn then_both(this: &Thenable, ok: &JsValue, err: &JsValue);
    /// The global `fetch(url, init)`, with a synchronous throw (a page's
    /// broken wrapper) caught.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub fn fetch(url: &str, init: &JsValue) -> Result<Thenable, JsValue>;
}

/// Milliseconds since the Unix epoch.
pub fn now() -> f64 {
    js_sys::Date::now()
}

/// `obj[key]`, or `undefined` when that throws or `obj` is not an object.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key] = v`, ignoring failure.
pub fn set(obj: &JsValue, key: &str, v: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), v);
}

/// `obj[key]` if it is a string; empty otherwise.
pub fn get_str(obj: &JsValue, key: &str) -> String {
    get(obj, key).as_string().unwrap_or_default()
}

/// `obj[key]` if it is a number; NaN otherwise.
pub fn get_f64(obj: &JsValue, key: &str) -> f64 {
    get(obj, key).as_f64().unwrap_or(f64::NAN)
}

/// A finite number as JSON text (JS's shortest round-trip form).
pub fn num(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    js_sys::Number::from(v).to_string_with_radix(10).ok().map(String::from)
}

/// A string, or a finite number as text (ids given as numbers).
pub fn str_or_num(v: &JsValue) -> String {
    match v.as_f64() {
        Some(n) => num(n).unwrap_or_default(),
        None => v.as_string().unwrap_or_default(),
    }
}

/// 16 random bytes from `crypto.getRandomValues`, or `Math.random` when
/// the Web Crypto API is unavailable.
pub fn random16(crypto: Option<&web_sys::Crypto>) -> [u8; 16] {
    let mut b = [0u8; 16];
    if let Some(c) = crypto {
        if c.get_random_values_with_u8_array(&mut b).is_ok() {
            return b;
        }
    }
    for x in b.iter_mut() {
        *x = (js_sys::Math::random() * 256.0) as u8;
    }
    b
}

/// An element's attribute, or empty.
pub fn attr(el: &web_sys::Element, name: &str) -> String {
    el.get_attribute(name).unwrap_or_default()
}

/// The event's target as an element, if it is one.
pub fn target_element(ev: &web_sys::Event) -> Option<web_sys::Element> {
    ev.target()?.dyn_into::<web_sys::Element>().ok()
}
