//! Scenarios: the API: `track`, `purchase`, `identify`.
use crate::sim::*;

#[test]
fn track_keeps_strings_finite_numbers_and_booleans() {
    let mut b = Browser::booted(LANDING);
    let long_key = "k".repeat(65);
    let long_key: &str = &long_key;
    b.track(
        S("  signup "),
        &[
            ("plan", S("pro")),
            ("seats", N(3.0)),
            ("ratio", N(1.5e-7)),
            ("huge", N(1e21)),
            ("trial", B(true)),
            ("nan", N(f64::NAN)),
            ("inf", N(f64::INFINITY)),
            ("nothing", Null),
            ("", S("empty key")),
            (long_key, S("long key")),
            ("long", S(Box::leak("é".repeat(300).into_boxed_str()))),
        ],
    );
    b.track(S("   "), &[]);
    b.track(N(5.0), &[]); // not a name
    let many: Vec<String> = (0..40).map(|i| format!("p{i:02}")).collect();
    let props: Vec<(&str, Js)> = many.iter().map(|k| (k.as_str(), N(1.0))).collect();
    b.track(S("many"), &props);
    b.advance(1_000.0);
    let c = b.of_kind("custom");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].name.as_deref(), Some("signup"));
    let p = c[0].props.clone().unwrap();
    let keys: Vec<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(keys, ["huge", "long", "plan", "ratio", "seats", "trial"]);
    assert_eq!(p["plan"], PropValue::Str("pro".into()));
    assert_eq!(p["seats"], PropValue::Num(3.0));
    assert_eq!(p["ratio"], PropValue::Num(1.5e-7));
    assert_eq!(p["huge"], PropValue::Num(1e21));
    assert_eq!(p["trial"], PropValue::Bool(true));
    match &p["long"] {
        PropValue::Str(s) => assert!(s.len() <= 512 && s.chars().all(|c| c == 'é'), "cut on a char boundary"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c[1].props.as_ref().unwrap().len(), 32, "at most 32 props");
}

#[test]
fn purchases_are_normalised() {
    let mut b = Browser::booted(LANDING);
    b.purchase(&[
        ("order_id", S("A-1")),
        ("value", S("49.90")),
        ("currency", S(" eur ")),
        ("product_id", N(77.0)),
        ("product_name", S("Course \"Pro\"")),
        ("coupon", S("SPRING")),
        ("qty", N(2.0)),
        ("gift", B(false)),
    ]);
    b.purchase(&[("order_id", N(1001.0)), ("value", N(10.0)), ("currency", S("usd"))]);
    b.advance(1_000.0);
    let p = b.of_kind("purchase");
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].order_id.as_deref(), Some("A-1"));
    assert_eq!(p[0].value, Some(49.9));
    assert_eq!(p[0].currency.as_deref(), Some("EUR"));
    assert_eq!(p[0].product_id.as_deref(), Some("77"));
    assert_eq!(p[0].product_name.as_deref(), Some("Course \"Pro\""));
    assert_eq!(prop(&p[0], "coupon"), Some(PropValue::Str("SPRING".into())));
    assert_eq!(prop(&p[0], "qty"), Some(PropValue::Num(2.0)));
    assert_eq!(prop(&p[0], "gift"), Some(PropValue::Bool(false)));
    assert_eq!(p[0].props.as_ref().unwrap().len(), 3, "the order's own fields are not props");
    assert_eq!(p[1].order_id.as_deref(), Some("1001"));
    assert_eq!((p[1].value, p[1].currency.as_deref()), (Some(10.0), Some("USD")));
    assert!(p[1].props.is_none());
}

#[test]
fn a_purchase_without_order_id_is_not_sent_and_bad_values_are_left_out() {
    let mut b = Browser::booted(LANDING);
    for order_id in [None, Some(S("")), Some(N(f64::NAN)), Some(B(true)), Some(Null)] {
        let mut o = vec![("value", N(10.0)), ("currency", S("EUR"))];
        if let Some(id) = order_id {
            o.push(("order_id", id));
        }
        b.purchase(&o);
    }
    for value in [S("abc"), N(f64::NAN), N(f64::INFINITY), B(true), S("  ")] {
        b.purchase(&[("order_id", S("V")), ("value", value), ("currency", S("EUR"))]);
    }
    b.advance(1_000.0);
    // Sent without a value, these are the collector's to reject.
    let p: Vec<RawEvent> = b.unchecked_events().into_iter().filter(|e| e.kind == "purchase").collect();
    assert_eq!(p.len(), 5, "only those with an order id");
    assert!(p.iter().all(|e| e.order_id.as_deref() == Some("V") && e.value.is_none()));
}

#[test]
fn identify_takes_an_email_or_a_lead_id() {
    let mut b = Browser::booted(LANDING);
    b.identify(&[("email", S(" A@B.Example "))]);
    b.identify(&[("lead_id", N(42.0))]);
    b.identify(&[("lead_id", S("L-7")), ("email", S("x@y.example"))]);
    b.identify(&[("email", S("nope"))]);
    b.identify(&[("email", N(5.0))]);
    b.identify(&[("lead_id", N(f64::NAN))]);
    b.identify(&[]);
    b.advance(1_000.0);
    let got: Vec<(Option<String>, Option<String>)> =
        b.of_kind("identify").into_iter().map(|e| (e.email, e.lead_id)).collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(got, [(some("a@b.example"), None), (None, some("42")), (some("x@y.example"), some("L-7"))]);
}
