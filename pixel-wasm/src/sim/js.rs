//! JS values, converted the way host.js's API exports (`track`,
//! `purchase`, `identify`) convert them before they reach the pixel.

/// A JS value passed to `track`, `purchase` or `identify`.
#[derive(Clone, Debug)]
pub(crate) enum Js {
    S(&'static str),
    N(f64),
    B(bool),
    Null,
}
pub(crate) use Js::{Null, B, N, S};

/// `'' + x` for a finite number, as JS prints it.
pub(crate) fn js_number(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || (1e-6..1e21).contains(&a) {
        return format!("{x}");
    }
    let e = format!("{x:e}"); // "1e21", "1.5e-7"
    match e.split_once('e') {
        Some((m, exp)) if !exp.starts_with('-') => format!("{m}e+{exp}"),
        _ => e,
    }
}

/// JS `+s` for a string.
pub(crate) fn js_to_number(s: &str) -> f64 {
    let t = s.trim();
    match t {
        "" => 0.0,
        "Infinity" | "+Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ if t.bytes().any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E') => f64::NAN,
        _ => t.parse().unwrap_or(f64::NAN),
    }
}

/// host.js `id`: a string, or a finite number as text.
pub(crate) fn js_id(v: Option<&Js>) -> Option<String> {
    match v? {
        S(s) => Some(s.to_string()),
        N(x) if x.is_finite() => Some(js_number(*x)),
        _ => None,
    }
}

/// host.js `num`: a finite number, also from a numeric string.
pub(crate) fn js_num(v: Option<&Js>) -> Option<String> {
    match v? {
        N(x) => js_id(Some(&N(*x))),
        S(s) if !s.trim().is_empty() => js_id(Some(&N(js_to_number(s)))),
        _ => None,
    }
}

/// `typeof v == 'string' ? v : none`.
pub(crate) fn js_str(v: Option<&Js>) -> Option<String> {
    match v? {
        S(s) => Some(s.to_string()),
        _ => None,
    }
}

/// host.js `text`: a string, trimmed.
pub(crate) fn js_text(v: Option<&Js>) -> Option<String> {
    js_str(v).map(|s| s.trim().to_string())
}

/// host.js `flat(o, skip)`: the other strings, finite numbers and booleans
/// as key, typed-value pairs.
pub(crate) fn js_flat(o: &[(&str, Js)], skip: &[&str]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for (k, v) in o {
        let typed = match v {
            S(s) => format!("s{s}"),
            N(x) if x.is_finite() => format!("n{}", js_number(*x)),
            B(b) => format!("b{b}"),
            _ => continue,
        };
        if !skip.contains(k) {
            out.push(Some(k.to_string()));
            out.push(Some(typed));
        }
    }
    out
}

pub(crate) fn field<'a>(o: &'a [(&str, Js)], key: &str) -> Option<&'a Js> {
    o.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

#[test]
fn numbers_convert_like_js() {
    assert_eq!(js_number(49.9), "49.9");
    assert_eq!(js_number(1e21), "1e+21");
    assert_eq!(js_number(1.5e-7), "1.5e-7");
    assert_eq!(js_num(Some(&S(" 49.90 "))).as_deref(), Some("49.9"));
    assert_eq!(js_num(Some(&S("abc"))), None);
    assert_eq!(js_num(Some(&N(f64::NAN))), None);
}
