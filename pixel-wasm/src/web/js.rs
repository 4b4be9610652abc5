//! Reflective access to the page's JS objects.
//!
//! Every property read goes through `Reflect.get` and every method call
//! through `Reflect.apply`, instead of one typed `web-sys` import per
//! property and method. The pixel touches ~40 DOM members; as typed imports
//! each costs a hashed import name in the wasm *and* a shim in the JS glue
//! (~130 bytes). Here the whole DOM surface costs seven imports
//! (`globalThis`, `Reflect.get/set/apply/construct`, `Array.of`,
//! `Date.now`), and every call is also caught: a throwing (or page-patched)
//! DOM method cannot unwind through the pixel.
use alloc::string::String;
use wasm_bindgen::prelude::*;

// Declared here rather than taken from js-sys: js-sys links a JSPI task
// runtime (a raw wasm export) whose function table entries wasm-opt cannot
// drop, about 2 KB for five functions used.
#[wasm_bindgen]
extern "C" {
    /// `globalThis` (the page's `window`).
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL: JsValue;
    #[wasm_bindgen(js_namespace = Reflect, js_name = get, catch)]
    fn reflect_get(o: &JsValue, k: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = set, catch)]
    fn reflect_set(o: &JsValue, k: &JsValue, v: &JsValue) -> Result<JsValue, JsValue>;
    /// `Reflect.apply`, for the history proxies' trap.
    #[wasm_bindgen(js_namespace = Reflect, js_name = apply, catch)]
    pub fn reflect_apply(f: &JsValue, this: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = construct, catch)]
    fn reflect_construct(f: &JsValue, args: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Array, js_name = of)]
    fn array3(a: &JsValue, b: &JsValue, c: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
}

/// The page's global object (`window`).
pub fn global() -> JsValue {
    GLOBAL.with(JsValue::clone)
}

/// `o[k]`; `undefined` when `o` is not an object or the getter throws.
pub fn get(o: &JsValue, k: &str) -> JsValue {
    reflect_get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

/// `o[i]`, for array-likes.
pub fn get_at(o: &JsValue, i: u32) -> JsValue {
    reflect_get(o, &JsValue::from(i)).unwrap_or(JsValue::UNDEFINED)
}

/// `o[k]` if it is a string; empty otherwise.
pub fn get_str(o: &JsValue, k: &str) -> String {
    get(o, k).as_string().unwrap_or_default()
}

/// `o[k]` if it is a number; NaN otherwise.
pub fn get_f64(o: &JsValue, k: &str) -> f64 {
    get(o, k).as_f64().unwrap_or(f64::NAN)
}

/// `o[k] = v`; false when that throws (a setter refusing, a frozen object).
pub fn set(o: &JsValue, k: &str, v: &JsValue) -> bool {
    reflect_set(o, &JsValue::from_str(k), v).map(|r| r == JsValue::TRUE).unwrap_or(false)
}

/// `f.call(this, a, b, c)`, with any exception returned as `Err`. Extra
/// `undefined` arguments are harmless to every function called this way.
pub fn apply(f: &JsValue, this: &JsValue, a: &JsValue, b: &JsValue, c: &JsValue) -> Result<JsValue, JsValue> {
    reflect_apply(f, this, &array3(a, b, c))
}

/// `o[m](a, b, c)`; `undefined` when it throws or is not a method.
pub fn call(o: &JsValue, m: &str, a: &JsValue, b: &JsValue, c: &JsValue) -> JsValue {
    apply(&get(o, m), o, a, b, c).unwrap_or(JsValue::UNDEFINED)
}

/// `o[m](a)`.
pub fn call1(o: &JsValue, m: &str, a: &JsValue) -> JsValue {
    call(o, m, a, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
}

/// A global function: `window[f](a)`.
pub fn global_fn(f: &str, a: &JsValue) -> Result<JsValue, JsValue> {
    let g = global();
    apply(&get(&g, f), &JsValue::UNDEFINED, a, &JsValue::UNDEFINED, &JsValue::UNDEFINED)
}

/// `new C(a, b)` for a global constructor `C`.
pub fn construct(c: &str, a: &JsValue, b: &JsValue) -> Option<JsValue> {
    let ctor = get(&global(), c);
    reflect_construct(&ctor, &array3(a, b, &JsValue::UNDEFINED)).ok()
}

/// `String(v)`: a JS number as JS prints it (shortest round trip, which is
/// also valid JSON for finite numbers).
pub fn to_text(v: &JsValue) -> String {
    global_fn("String", v).ok().and_then(|s| s.as_string()).unwrap_or_default()
}

/// A finite number as JSON text.
pub fn num(v: f64) -> Option<String> {
    v.is_finite().then(|| to_text(&JsValue::from(v)))
}

/// `Number(v)`: numbers, and numeric strings ("49.90"); NaN otherwise.
pub fn to_number(v: &JsValue) -> f64 {
    if let Some(s) = v.as_string() {
        if s.trim_ascii().is_empty() {
            return f64::NAN;
        }
    }
    global_fn("Number", v).ok().and_then(|n| n.as_f64()).unwrap_or(f64::NAN)
}

/// A string, or a finite number as text (ids given as numbers).
pub fn str_or_num(v: &JsValue) -> String {
    match v.as_f64() {
        Some(n) => num(n).unwrap_or_default(),
        None => v.as_string().unwrap_or_default(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now() -> f64 {
    date_now()
}

/// A new empty object.
pub fn object() -> JsValue {
    global_fn("Object", &JsValue::UNDEFINED).unwrap_or(JsValue::UNDEFINED)
}
