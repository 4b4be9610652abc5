//! Scenarios: outbound clicks and forms.
use crate::sim::*;

#[test]
fn clicks_on_links_to_other_hosts_are_outbound() {
    let mut b = Browser::booted(LANDING);
    b.click("https://other.example/offer?x=1");
    b.click("http://other.example/");
    b.click("https://shop.example/cart");
    b.click("https://www.shop.example/");
    b.click("mailto:a@b.example");
    b.click("tel:+123");
    b.page_event(PageEvent::Click { link: None, button: 0.0, aux: false }); // not on a link
    b.advance(1_000.0);
    let targets: Vec<String> = b.of_kind("outbound_click").into_iter().map(|e| e.target.unwrap()).collect();
    assert_eq!(targets, ["https://other.example/offer?x=1", "http://other.example/"]);

    let mut b = Browser::booted("https://www.shop.example/");
    b.click("https://shop.example/x");
    b.advance(1_000.0);
    assert!(b.of_kind("outbound_click").is_empty(), "www. aside");
}

#[test]
fn auxclick_is_outbound_only_for_the_middle_button() {
    let mut b = Browser::booted(LANDING);
    b.click_link("https://other.example/1", 1.0, true);
    b.click_link("https://other.example/2", 2.0, true);
    b.click_link("https://other.example/3", 3.0, true);
    b.advance(1_000.0);
    let targets: Vec<String> = b.of_kind("outbound_click").into_iter().map(|e| e.target.unwrap()).collect();
    assert_eq!(targets, ["https://other.example/1"]);
}

#[test]
fn forms_report_their_field_names() {
    let mut b = Browser::booted(LANDING);
    let long = "n".repeat(100);
    b.submit(
        Some("signup"),
        Some("signup-form"),
        "https://shop.example/join",
        None,
        &["email", "name", "email", "", &long, "plan"],
    );
    b.submit(None, Some("search"), "https://shop.example/s", None, &["q"]);
    b.submit(None, None, "https://shop.example/x", None, &[]);
    let many: Vec<String> = (0..60).map(|i| format!("f{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    b.submit(Some("big"), None, "https://shop.example/big", None, &many);
    b.advance(1_000.0);
    let forms = b.of_kind("form_submit");
    assert_eq!(forms.len(), 4);
    assert_eq!(forms[0].form_id.as_deref(), Some("signup"));
    assert_eq!(forms[0].form_action.as_deref(), Some("https://shop.example/join"));
    assert_eq!(forms[0].fields.as_deref().unwrap(), ["email", "name", "n".repeat(64).as_str(), "plan"]);
    assert_eq!(forms[1].form_id.as_deref(), Some("search"), "the name when there is no id");
    assert_eq!(forms[2].form_id, None);
    assert_eq!(forms[2].fields.as_deref().unwrap(), [] as [&str; 0]);
    assert_eq!(forms[3].fields.as_ref().unwrap().len(), 50);
    assert!(b.of_kind("identify").is_empty(), "plain forms do not identify");
}

#[test]
fn identify_forms_send_the_normalised_email() {
    let mut b = Browser::booted(LANDING);
    let action = "https://shop.example/join";
    b.submit(Some("f1"), None, action, Some("  Ann@Shop.Example "), &["work_email", "pw"]);
    b.submit(Some("f2"), None, action, Some("not-an-email"), &["email"]);
    b.submit(Some("f3"), None, action, Some(""), &["name"]);
    b.advance(1_000.0);
    assert_eq!(b.of_kind("form_submit").len(), 3);
    let ids = b.of_kind("identify");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].email.as_deref(), Some("ann@shop.example"));
    assert!(!b.sent()[0].body.contains("not-an-email"), "a value is never sent as such");
}
