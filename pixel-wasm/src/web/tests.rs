//! The pixel in a real browser (headless Chromium via wasm-bindgen-test),
//! driven the way the loader drives it: through `host.js`'s exports, with
//! real DOM events, cookies, storage and history. `fetch` and `sendBeacon`
//! are replaced by recorders, so every request body the pixel sends is
//! decoded with ktra-schema's serde types and validated.
#![allow(clippy::unwrap_used)]

use js_sys::{Array, Function, Object, Promise, Reflect};
use ktra_schema::wire::{Batch, PropValue, RawEvent};
use std::cell::RefCell;
use std::collections::VecDeque;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

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

#[wasm_bindgen_test]
async fn start_sets_cookies_and_stop_leaves_nothing_behind() {
    reset("/start-stop");
    let original_push = get(&get(&win(), "history"), "pushState");
    start_now(config()).await;
    let c = cookies();
    assert!(c.contains("ktra_vid=") && c.contains("ktra_sid="), "{c}");
    let storage = get(&win(), "localStorage");
    assert!(call(&storage, "getItem", &[js_str("ktra_sess")]).is_string());
    assert!(get(&get(&win(), "history"), "pushState") != original_push, "history is proxied while running");

    stop();
    let c = cookies();
    assert!(!c.contains("ktra_vid") && !c.contains("ktra_sid"), "{c}");
    assert!(call(&storage, "getItem", &[js_str("ktra_sess")]).is_null());
    assert!(get(&get(&win(), "history"), "pushState") == original_push, "history restored");

    // Nothing fires any more: no listener, no timer, no API. A listener or
    // timer left behind would call a dropped closure: a page error.
    SENT.with(|s| s.borrow_mut().clear());
    let errors = std::rc::Rc::new(std::cell::Cell::new(0));
    let seen = errors.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| seen.set(seen.get() + 1));
    call(&win(), "addEventListener", &[js_str("error"), on_error.as_ref().clone(), JsValue::TRUE]);
    let form = element(r#"<form id="f"><input name="q"></form>"#);
    dispatch(&form, "submit");
    dispatch(&get(&doc(), "body"), "click");
    pagehide();
    track(js_str("after-stop"), JsValue::UNDEFINED);
    call(&get(&win(), "history"), "pushState", &[JsValue::NULL, js_str(""), js_str("/after-stop")]);
    dispatch(&win(), "scroll");
    sleep(1300).await;
    assert!(SENT.with(|s| s.borrow().is_empty()), "sent after stop: {:?}", SENT.with(|s| s.borrow().clone()));
    assert!(!running());
    assert_eq!(errors.get(), 0, "a callback of the stopped pixel ran");
    call(&win(), "removeEventListener", &[js_str("error"), on_error.as_ref().clone(), JsValue::TRUE]);
}

#[wasm_bindgen_test]
async fn page_view_batch_decodes_with_ktra_schema_and_validates() {
    reset("/landing?q=1");
    start_now(config()).await;
    sleep(1300).await; // the flush timer sends by fetch
    let sent = SENT.with(|s| s.borrow().clone());
    assert_eq!(sent.first().map(|s| s.0), Some("fetch"), "{sent:?}");
    let b = &batches()[0];
    assert_eq!(b.site, "demo");
    assert_eq!(b.consent.as_deref(), Some("v1.test-token"));
    let vid = cookies().split("ktra_vid=").nth(1).unwrap().split(['.', ';']).next().unwrap().to_string();
    assert_eq!(b.vid, vid, "batch vid is the cookie's visitor id");
    assert!(cookies().contains(&format!("ktra_sid={}", b.sid)));
    let pv = &b.events[0];
    assert_eq!(pv.kind, "page_view");
    assert!(pv.url.as_deref().unwrap().ends_with("/landing?q=1"));
    assert_eq!(pv.title.as_deref(), Some("Test page"));
    let evs = events();
    let ids: Vec<&str> = evs.iter().map(|e| e.id.as_str()).collect();
    for id in &ids {
        let bytes = ktra_schema::validate::parse_uuid(id).unwrap();
        assert_eq!(bytes[6] >> 4, 4, "{id} is v4");
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    validate_all();
    stop();
}

#[wasm_bindgen_test]
async fn spa_navigations_are_page_views_once_per_url() {
    reset("/spa");
    start_now(config()).await;
    let hist = get(&win(), "history");
    sleep(50).await;
    call(&hist, "pushState", &[JsValue::NULL, js_str(""), js_str("/spa/a")]);
    sleep(200).await;
    call(&hist, "pushState", &[JsValue::NULL, js_str(""), js_str("/spa/a")]);
    call(&hist, "replaceState", &[JsValue::NULL, js_str(""), js_str("/spa/a#section")]);
    sleep(200).await;
    call(&hist, "pushState", &[JsValue::NULL, js_str(""), js_str("/spa/b")]);
    call(&hist, "back", &[]);
    sleep(300).await;
    pagehide();
    let urls: Vec<String> = of_kind("page_view").into_iter().map(|e| e.url.unwrap()).collect();
    let paths: Vec<&str> = urls.iter().map(|u| u.rsplit_once('/').map(|(_, p)| p).unwrap_or("")).collect();
    assert_eq!(paths, ["spa", "a"], "{urls:?}");
    let pv = of_kind("page_view");
    assert!(pv[1].referrer.as_deref().unwrap().ends_with("/spa"), "SPA referrer is the previous page");
    assert!(!of_kind("engagement").is_empty(), "engagement of the previous page");
    validate_all();
    stop();
}

#[wasm_bindgen_test]
async fn email_click_is_reported_once_and_leaves_the_address_bar() {
    reset("/mail?x=1&ktra_ec=EC_42&utm_source=news%20letter&utm_campaign=spring+sale#frag");
    start_now(config()).await;
    assert!(href().ends_with("/mail?x=1&utm_source=news%20letter&utm_campaign=spring+sale#frag"), "{}", href());
    pagehide();
    let clicks = of_kind("email_click");
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0].click_id.as_deref(), Some("EC_42"));
    assert_eq!(of_kind("page_view").len(), 1, "no second page view for the address bar change");
    let b = &batches()[0];
    assert_eq!(b.ec.as_deref(), Some("EC_42"));
    let utm = b.utm.clone().unwrap();
    assert_eq!(utm.source.as_deref(), Some("news letter"));
    assert_eq!(utm.campaign.as_deref(), Some("spring sale"));
    validate_all();

    // Reloading the (clean) landing page continues the session and its
    // campaign, without another email click.
    let sid = b.sid.clone();
    leave_page();
    SENT.with(|s| s.borrow_mut().clear());
    start_now(config()).await;
    pagehide();
    let b = &batches()[0];
    assert_eq!(b.sid, sid);
    assert_eq!(b.ec.as_deref(), Some("EC_42"));
    assert!(of_kind("email_click").is_empty());

    // Another campaign starts another session.
    leave_page();
    SENT.with(|s| s.borrow_mut().clear());
    call(&get(&win(), "history"), "replaceState", &[JsValue::NULL, js_str(""), js_str("/mail?gclid=G1")]);
    start_now(config()).await;
    pagehide();
    let b = &batches()[0];
    assert_ne!(b.sid, sid);
    assert_eq!(b.ec, None);
    assert_eq!(b.utm.clone().unwrap().gclid.as_deref(), Some("G1"));
    stop();
}

#[wasm_bindgen_test]
async fn campaign_values_longer_than_the_collector_takes_are_left_out() {
    let max = ktra_facts::limits::MAX_CAMPAIGN_LEN;
    let fits = "%C3%A9".repeat(max / 2); // "é": two bytes each
    let over = format!("{fits}x");
    reset(&format!("/utm?utm_source={fits}&utm_medium={over}&utm_campaign=%20spring%20"));
    start_now(config()).await;
    pagehide();
    let utm = batches()[0].utm.clone().unwrap();
    assert_eq!(utm.source.map(|s| s.len()), Some(max));
    assert_eq!(utm.medium, None);
    assert_eq!(utm.campaign.as_deref(), Some("spring"));
    stop();
}

#[wasm_bindgen_test]
async fn forms_report_field_names_never_values_and_identify_forms_send_the_email() {
    reset("/form");
    start_now(config()).await;
    let form = element(
        r#"<form name="signup" action="/join" data-ktra-identify>
            <input type="email" name="work_email" value=" Ann@Shop.Example ">
            <input type="password" name="pw" value="hunter2">
            <input type="hidden" name="csrf" value="secret-token">
            <input type="radio" name="plan" value="a"><input type="radio" name="plan" value="b">
            <textarea name="note">private note</textarea>
            <input type="submit" name="go" value="Go">
        </form>"#,
    );
    dispatch(&form, "submit");
    let plain = element(r#"<form id="search"><input name="q" value="shoes"></form>"#);
    dispatch(&plain, "submit");
    pagehide();
    let body: String = SENT.with(|s| s.borrow().iter().map(|b| b.1.clone()).collect());
    for secret in ["hunter2", "secret-token", "private note", "shoes"] {
        assert!(!body.contains(secret), "{secret} leaked");
    }
    let forms = of_kind("form_submit");
    assert_eq!(forms.len(), 2);
    assert_eq!(forms[0].form_id.as_deref(), Some("signup"));
    assert!(forms[0].form_action.as_deref().unwrap().ends_with("/join"));
    assert_eq!(forms[0].fields.as_deref().unwrap(), ["work_email", "pw", "plan", "note"]);
    assert_eq!(forms[1].form_id.as_deref(), Some("search"));
    let ids = of_kind("identify");
    assert_eq!(ids.len(), 1, "only the data-ktra-identify form identifies");
    assert_eq!(ids[0].email.as_deref(), Some("ann@shop.example"));
    validate_all();
    stop();
}

#[wasm_bindgen_test]
async fn video_milestones_once_each() {
    reset("/video");
    start_now(config()).await;
    let v = element(r#"<video id="intro"></video>"#);
    let define = |k: &str, val: f64| define(&v, k, &JsValue::from(val));
    define("duration", 200.0);
    define("currentTime", 0.0);
    dispatch(&v, "play");
    define("currentTime", 60.0);
    dispatch(&v, "timeupdate");
    define("currentTime", 160.0);
    dispatch(&v, "timeupdate");
    dispatch(&v, "timeupdate");
    dispatch(&v, "ended");
    dispatch(&v, "play");
    dispatch(&v, "ended");
    pagehide();
    let kinds: Vec<(String, Option<u8>)> = events()
        .into_iter()
        .filter(|e| e.kind.starts_with("video"))
        .map(|e| {
            assert_eq!(e.video_id.as_deref(), Some("intro"));
            (e.kind, e.percent)
        })
        .collect();
    let expect = [
        ("video_start", None),
        ("video_progress", Some(25)),
        ("video_progress", Some(50)),
        ("video_progress", Some(75)),
        ("video_complete", None),
    ];
    assert_eq!(kinds, expect.map(|(k, p)| (k.to_string(), p)));
    validate_all();
    stop();
}

#[wasm_bindgen_test]
async fn a_page_shorter_than_the_viewport_is_read_to_the_end() {
    reset("/short");
    start_now(config()).await;
    sleep(450).await;
    pagehide();
    let depths: Vec<u8> = of_kind("scroll").into_iter().map(|e| e.depth.unwrap()).collect();
    assert_eq!(depths, [25, 50, 75, 90, 100]);
    stop();
}

#[wasm_bindgen_test]
async fn clicks_on_links_to_other_hosts_are_outbound() {
    reset("/links");
    start_now(config()).await;
    let out = element(r#"<a href="https://other.example/offer?x=1"><span>Offer</span></a>"#);
    let inside = element(r#"<a href="/cart">Cart</a>"#);
    let mail = element(r#"<a href="mailto:a@b.example">Mail</a>"#);
    let page_host = get_str(&get(&win(), "location"), "host");
    let www = element(&format!(r#"<a href="http://www.{page_host}/x">Same site</a>"#));
    let other_www = element(r#"<a href="https://www.other.example/">Other</a>"#);
    let script = element(r#"<a href="javascript:void(0)">Script</a>"#);
    let stop_nav = Closure::<dyn FnMut(JsValue)>::new(|e: JsValue| {
        call(&e, "preventDefault", &[]);
    });
    for a in [&out, &inside, &mail, &www, &other_www, &script] {
        call(a, "addEventListener", &[js_str("click"), stop_nav.as_ref().clone(), JsValue::FALSE]);
    }
    dispatch(&get(&out, "firstElementChild"), "click");
    for a in [&inside, &mail, &www, &other_www, &script] {
        dispatch(a, "click");
    }
    pagehide();
    let targets: Vec<String> = of_kind("outbound_click").into_iter().map(|e| e.target.unwrap()).collect();
    assert_eq!(targets, ["https://other.example/offer?x=1", "https://www.other.example/"]);
    stop();
}

#[wasm_bindgen_test]
async fn track_purchase_and_identify_calls() {
    reset("/api");
    start_now(config()).await;
    let nested = obj(&[("a", JsValue::from(1))]);
    track(
        js_str("signup"),
        obj(&[("plan", js_str("pro")), ("seats", JsValue::from(3)), ("trial", JsValue::TRUE), ("nested", nested)]),
    );
    track(JsValue::from(5), JsValue::UNDEFINED); // not a name: ignored
    purchase(obj(&[
        ("order_id", js_str("A-1")),
        ("value", js_str("49.90")),
        ("currency", js_str("eur")),
        ("product_id", JsValue::from(77)),
        ("product_name", js_str("Course \"Pro\"")),
        ("coupon", js_str("SPRING")),
    ]));
    identify(obj(&[("lead_id", JsValue::from(42))]));
    identify(obj(&[("email", js_str("not-an-email"))])); // nothing usable: ignored
    purchase(JsValue::NULL); // garbage in: no throw
    pagehide();
    let c = of_kind("custom");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].name.as_deref(), Some("signup"));
    let props = c[0].props.clone().unwrap();
    assert_eq!(props["plan"], PropValue::Str("pro".into()));
    assert_eq!(props["seats"], PropValue::Num(3.0));
    assert_eq!(props["trial"], PropValue::Bool(true));
    assert!(!props.contains_key("nested"));
    let p = &of_kind("purchase")[0];
    assert_eq!(p.order_id.as_deref(), Some("A-1"));
    assert_eq!(p.value, Some(49.9));
    assert_eq!(p.currency.as_deref(), Some("EUR"));
    assert_eq!(p.product_id.as_deref(), Some("77"));
    assert_eq!(p.product_name.as_deref(), Some("Course \"Pro\""));
    assert_eq!(p.props.clone().unwrap()["coupon"], PropValue::Str("SPRING".into()));
    let ids = of_kind("identify");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].lead_id.as_deref(), Some("42"));
    assert_eq!(of_kind("purchase").len(), 1, "a purchase without order id is not sent");
    validate_all();
    stop();
}

#[wasm_bindgen_test]
async fn retries_resend_the_same_events_and_4xx_is_final() {
    reset("/retry");
    STATUSES.with(|s| s.borrow_mut().extend([503, 202]));
    start_now(config()).await;
    sleep(1200).await; // flush timer: first attempt, answered 503 + Retry-After: 1
    assert_eq!(SENT.with(|s| s.borrow().len()), 1);
    sleep(700).await;
    assert_eq!(SENT.with(|s| s.borrow().len()), 1, "Retry-After honoured");
    sleep(1300).await;
    let sent = SENT.with(|s| s.borrow().clone());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].1, sent[1].1, "the retry resends the same body, same event ids");
    sleep(1500).await;
    assert_eq!(SENT.with(|s| s.borrow().len()), 2, "delivered: no more sends");
    stop();

    reset("/refused");
    STATUSES.with(|s| s.borrow_mut().push_back(400));
    start_now(config()).await;
    sleep(3500).await;
    assert_eq!(SENT.with(|s| s.borrow().len()), 1, "a 400 is not retried");
    stop();
}

#[wasm_bindgen_test]
async fn start_returns_at_once_and_does_its_work_in_its_own_task() {
    reset("/deferred");
    start(config());
    assert!(!cookies().contains("ktra_vid"), "nothing done inside start()");
    sleep(30).await;
    assert!(cookies().contains("ktra_vid") && cookies().contains("ktra_sid"));
    stop();

    // An API call before the task ran runs it first: nothing is lost.
    reset("/deferred-api");
    start(config());
    track(js_str("early"), JsValue::UNDEFINED);
    pagehide();
    let kinds: Vec<String> = events().into_iter().map(|e| e.kind).filter(|k| k != "engagement").collect();
    assert_eq!(kinds, ["page_view", "custom"]);

    // start then stop before the task: nothing at all.
    reset("/deferred-stop");
    start(config());
    stop();
    sleep(30).await;
    assert!(!cookies().contains("ktra_vid"));
    assert!(SENT.with(|s| s.borrow().is_empty()));
}

#[wasm_bindgen_test]
async fn bad_or_expired_configuration_does_not_start() {
    reset("/config");
    start_now(JsValue::NULL).await;
    start_now(js_str("nonsense")).await;
    start_now(obj(&[("endpoint", js_str("http://x")), ("site", js_str("demo")), ("exp", JsValue::from(1000))])).await;
    assert!(!running());
    assert!(!cookies().contains("ktra_vid"));
}

#[wasm_bindgen_test]
async fn host_reads_cookies_by_exact_name() {
    use crate::host::Host;
    reset("/cookies");
    for c in ["xktra_vid=no", "ktra_vid=abc.123", "ktra_sidx=no", "ktra_sid=s1"] {
        set(&doc(), "cookie", &js_str(&format!("{c}; Path=/")));
    }
    let js = super::Js;
    assert_eq!(js.cookie("ktra_vid").as_deref(), Some("abc.123"));
    assert_eq!(js.cookie("ktra_sid").as_deref(), Some("s1"));
    assert_eq!(js.cookie("missing"), None);
    for c in ["xktra_vid", "ktra_sidx"] {
        set(&doc(), "cookie", &js_str(&format!("{c}=; Path=/; Max-Age=0")));
    }
    stop();
    assert_eq!(js.cookie("ktra_vid"), None);
}

#[wasm_bindgen_test]
async fn host_strips_a_parameter_and_keeps_the_rest_as_written() {
    use crate::host::Host;
    reset("/strip");
    let cases = crate::host::STRIP_CASES;
    let origin = get_str(&get(&win(), "location"), "origin");
    for (from, to) in cases {
        call(&get(&win(), "history"), "replaceState", &[JsValue::NULL, js_str(""), js_str(from)]);
        let stripped = super::Js.strip_param("ktra_ec");
        assert_eq!(stripped, to.is_some(), "{from}");
        assert_eq!(href(), format!("{origin}{}", to.unwrap_or(from)), "{from}");
    }
}

#[wasm_bindgen_test]
async fn scroll_depths_follow_the_viewport_on_a_tall_page() {
    reset("/tall");
    let tall = element(r#"<div style="height: 20000px">tall</div>"#);
    start_now(config()).await;
    sleep(400).await; // the first measurement: the top of a tall page
    assert!(of_kind("scroll").is_empty(), "nothing seen yet: {:?}", of_kind("scroll"));
    let h = get(&get(&doc(), "documentElement"), "scrollHeight").as_f64().unwrap();
    let view = get(&win(), "innerHeight").as_f64().unwrap();
    call(&win(), "scrollTo", &[JsValue::from(0), JsValue::from(h * 0.6 - view)]);
    sleep(400).await; // the scroll event's measurement
    pagehide();
    let depths: Vec<u8> = of_kind("scroll").into_iter().map(|e| e.depth.unwrap()).collect();
    assert_eq!(depths, [25, 50], "60 % seen");
    call(&get(&doc(), "body"), "removeChild", &[tall]);
    call(&win(), "scrollTo", &[JsValue::from(0), JsValue::from(0)]);
    stop();
}

#[wasm_bindgen_test]
async fn ids_are_distinct_uuid_v4() {
    use crate::host::Host;
    reset("/ids");
    let ids: Vec<String> = (0..200).map(|_| super::Js.uuid()).collect();
    for id in &ids {
        let b = ktra_schema::validate::parse_uuid(id).unwrap();
        assert_eq!(b[6] >> 4, 4, "{id}: version 4");
        assert_eq!(b[8] >> 6, 0b10, "{id}: RFC 4122 variant");
        assert_eq!(id, &id.to_lowercase());
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}
