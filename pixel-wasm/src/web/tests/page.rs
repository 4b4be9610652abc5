//! Scenarios through the real DOM, as a visitor's page goes.
use super::*;

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
