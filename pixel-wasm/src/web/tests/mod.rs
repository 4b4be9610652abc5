//! The pixel in a real browser (headless Chromium via wasm-bindgen-test),
//! driven the way the loader drives it: through `host.js`'s exports, with
//! real DOM events, cookies, storage and history. `fetch` and `sendBeacon`
//! are replaced by recorders, so every request body the pixel sends is
//! decoded with ktra-schema's serde types and validated.
//!
//! This file is the harness; [`page`] has the scenarios, [`host`] the
//! host's ops called one by one.
#![allow(clippy::unwrap_used)]

use js_sys::{Array, Function, Object, Promise, Reflect};
use ktra_schema::wire::{Batch, PropValue, RawEvent};
use std::cell::RefCell;
use std::collections::VecDeque;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

mod host;
mod page;

wasm_bindgen_test_configure!(run_in_browser);

/// The loader's view of the pixel module: `host.js`'s API.
#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    fn bind(exports: JsValue);
    fn start(cfg: JsValue);
    fn stop();
    fn track(name: JsValue, props: JsValue);
    fn purchase(order: JsValue);
    fn identify(who: JsValue);
}

thread_local! {
    /// Request bodies sent, with how they went ("fetch" or "beacon").
    static SENT: RefCell<Vec<(&'static str, String)>> = const { RefCell::new(Vec::new()) };
    /// Statuses the fake collector answers with, in order (then 202).
    static STATUSES: RefCell<VecDeque<u16>> = const { RefCell::new(VecDeque::new()) };
    static FAKES: RefCell<Option<(JsValue, JsValue)>> = const { RefCell::new(None) };
}

fn win() -> JsValue {
    js_sys::global().into()
}

fn doc() -> JsValue {
    get(&win(), "document")
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &js_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn get_str(o: &JsValue, k: &str) -> String {
    get(o, k).as_string().unwrap_or_default()
}

fn set(o: &JsValue, k: &str, v: &JsValue) {
    Reflect::set(o, &js_str(k), v).unwrap();
}

/// `o[m](...args)`.
fn call(o: &JsValue, m: &str, args: &[JsValue]) -> JsValue {
    let f: Function = get(o, m).dyn_into().unwrap();
    Reflect::apply(&f, o, &args.iter().collect::<Array>()).unwrap()
}

/// `Object.defineProperty(o, k, {value: v, configurable: true})`.
fn define(o: &JsValue, k: &str, v: &JsValue) {
    let desc = obj(&[("value", v.clone()), ("configurable", JsValue::TRUE)]);
    Object::define_property(o.unchecked_ref::<Object>(), &js_str(k), desc.unchecked_ref::<Object>());
}

fn js_str(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

fn construct(ctor: &str, args: &[JsValue]) -> JsValue {
    let c: Function = get(&win(), ctor).dyn_into().unwrap();
    Reflect::construct(&c, &args.iter().collect::<Array>()).unwrap()
}

async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        call(&win(), "setTimeout", &[resolve.into(), JsValue::from(ms)]);
    });
    wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
}

/// Replaces `fetch` and `navigator.sendBeacon` by recorders (once).
fn install_fakes() {
    FAKES.with(|f| {
        if f.borrow().is_some() {
            return;
        }
        let fetch = Closure::<dyn FnMut(JsValue, JsValue) -> JsValue>::new(|_url: JsValue, init: JsValue| {
            SENT.with(|s| s.borrow_mut().push(("fetch", get_str(&init, "body"))));
            let status = STATUSES.with(|s| s.borrow_mut().pop_front()).unwrap_or(202);
            let get_header = Closure::<dyn FnMut(JsValue) -> JsValue>::new(|name: JsValue| {
                if name.as_string().as_deref() == Some("Retry-After") {
                    js_str("1")
                } else {
                    JsValue::NULL
                }
            })
            .into_js_value();
            let resp = obj(&[("status", JsValue::from(status)), ("headers", obj(&[("get", get_header)]))]);
            Promise::resolve(&resp).into()
        })
        .into_js_value();
        let beacon = Closure::<dyn FnMut(JsValue, JsValue) -> JsValue>::new(|_url: JsValue, body: JsValue| {
            SENT.with(|s| s.borrow_mut().push(("beacon", body.as_string().unwrap_or_default())));
            JsValue::TRUE
        })
        .into_js_value();
        set(&win(), "fetch", &fetch);
        let nav = get(&win(), "navigator");
        define(&nav, "sendBeacon", &beacon);
        *f.borrow_mut() = Some((fetch, beacon));
    });
}

/// host.js's build-time constants (`abi::js_defines`), which the shipped
/// build inlines, as globals: `OP.HREF` and the like.
fn define_host_constants() {
    for (name, value) in crate::abi::js_defines() {
        let (space, key) = name.split_once('.').unwrap();
        let mut object = get(&win(), space);
        if object.is_undefined() {
            object = Object::new().into();
            set(&win(), space, &object);
        }
        set(&object, key, &js_sys::JSON::parse(&value).unwrap());
    }
}

/// A clean page: pixel stopped, nothing recorded, the URL set to `path`.
fn reset(path: &str) {
    install_fakes();
    define_host_constants();
    bind(wasm_bindgen::exports());
    stop();
    SENT.with(|s| s.borrow_mut().clear());
    STATUSES.with(|s| s.borrow_mut().clear());
    let hist = get(&win(), "history");
    call(&hist, "replaceState", &[JsValue::NULL, js_str(""), js_str(path)]);
    set(&doc(), "title", &js_str("Test page"));
}

/// `start`, and its deferred task run.
async fn start_now(cfg: JsValue) {
    start(cfg);
    sleep(5).await;
}

/// Whether the pixel is running.
fn running() -> bool {
    super::STATE.with(|s| s.is_some()).unwrap()
}

/// The page is left: the pixel's state goes, cookies and storage stay.
fn leave_page() {
    super::STATE.with(crate::pixel::detach);
}

fn config() -> JsValue {
    let exp = js_sys::Date::now() / 1000.0 + 3600.0;
    obj(&[
        ("endpoint", js_str("http://127.0.0.1:9/")),
        ("site", js_str("demo")),
        ("token", js_str("v1.test-token")),
        ("exp", JsValue::from(exp)),
    ])
}

/// Sends whatever is pending the way a leaving page does (`pagehide`).
fn pagehide() {
    call(&win(), "dispatchEvent", &[construct("Event", &[js_str("pagehide")])]);
}

fn batches() -> Vec<Batch> {
    SENT.with(|s| s.borrow().iter().map(|(_, b)| serde_json::from_str::<Batch>(b).unwrap()).collect())
}

fn events() -> Vec<RawEvent> {
    batches().into_iter().flat_map(|b| b.events).collect()
}

fn of_kind(kind: &str) -> Vec<RawEvent> {
    events().into_iter().filter(|e| e.kind == kind).collect()
}

fn cookies() -> String {
    get_str(&doc(), "cookie")
}

fn href() -> String {
    get_str(&get(&win(), "location"), "href")
}

fn element(html: &str) -> JsValue {
    let holder = call(&doc(), "createElement", &[js_str("div")]);
    set(&holder, "innerHTML", &js_str(html));
    let el = get(&holder, "firstElementChild");
    call(&get(&doc(), "body"), "appendChild", std::slice::from_ref(&el));
    el
}

fn dispatch(target: &JsValue, ty: &str) {
    let init = obj(&[("bubbles", JsValue::TRUE), ("cancelable", JsValue::TRUE)]);
    call(target, "dispatchEvent", &[construct("Event", &[js_str(ty), init])]);
}

fn validate_all() {
    let now = js_sys::Date::now() as i64;
    for e in events() {
        if let Err(r) = ktra_schema::validate_event(e.clone(), now) {
            panic!("{} rejected: {r:?}", e.kind);
        }
    }
}
