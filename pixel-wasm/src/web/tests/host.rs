//! The host's ops, called one by one against the real platform.
use super::*;
use crate::host::Host;
use crate::web::Js;

#[wasm_bindgen_test]
async fn host_reads_cookies_by_exact_name() {
    reset("/cookies");
    for c in ["xktra_vid=no", "ktra_vid=abc.123", "ktra_sidx=no", "ktra_sid=s1"] {
        set(&doc(), "cookie", &js_str(&format!("{c}; Path=/")));
    }
    let js = Js;
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
    reset("/strip");
    let cases = crate::host::STRIP_CASES;
    let origin = get_str(&get(&win(), "location"), "origin");
    for (from, to) in cases {
        call(&get(&win(), "history"), "replaceState", &[JsValue::NULL, js_str(""), js_str(from)]);
        let stripped = Js.strip_param("ktra_ec");
        assert_eq!(stripped, to.is_some(), "{from}");
        assert_eq!(href(), format!("{origin}{}", to.unwrap_or(from)), "{from}");
    }
}

#[wasm_bindgen_test]
async fn ids_are_distinct_uuid_v4() {
    reset("/ids");
    let ids: Vec<String> = (0..200).map(|_| Js.uuid()).collect();
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
