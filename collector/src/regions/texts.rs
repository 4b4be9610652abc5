//! The banner's language and the texts of the notice form.
//!
//! The banner ships its own texts for `opt_in` (en, de, fr, es, in
//! `consent-banner/texts/`: English inside `banner.js`, the others as text
//! packs served as `/banner/<lang>.json`, see `crate::assets`). For `opt_out` and `none` the collector sends
//! the notice form's texts with the site config (CCPA-style wording with a
//! visible "Do not sell or share" refusal), so the banner carries no second
//! set of texts in its size budget. A site may override both per region:
//! `[sites.ID.region_texts.REGION.LANG]`.
//!
//! The language is chosen from the request's `Accept-Language` among the
//! site's `languages` ([`choose_language`]); the banner prefers the page's own
//! `<html lang>` when the site has it.
use std::collections::BTreeMap;

/// Texts by language, then key (as in `[sites.ID.texts]`).
pub type Texts = BTreeMap<String, BTreeMap<String, String>>;

/// Languages shipped with texts for every form.
pub const SHIPPED_LANGUAGES: &[&str] = &["en", "de", "fr", "es"];

/// Most `Accept-Language` entries looked at.
const MAX_LANGUAGE_RANGES: usize = 16;

/// The notice form (`opt_out`, `none`): (language, [(key, text)]). Keys as in
/// `banner.js`; `accept` closes the notice, `reject` refuses.
pub const NOTICE: &[(&str, &[(&str, &str)])] = &[
    (
        "en",
        &[
            ("title", "Your privacy choices"),
            (
                "body",
                "We use cookies to measure how this site is used and which emails and campaigns lead to visits and purchases. Under some US state laws this may count as \u{201c}selling\u{201d} or \u{201c}sharing\u{201d} personal information. You can opt out at any time.",
            ),
            ("accept", "OK"),
            ("reject", "Do not sell or share my personal information"),
            (
                "gpc",
                "Your browser sent a Global Privacy Control signal: we treat it as your request to opt out, and nothing is measured.",
            ),
        ],
    ),
    (
        "de",
        &[
            ("title", "Ihre Datenschutzeinstellungen"),
            (
                "body",
                "Wir verwenden Cookies, um zu messen, wie diese Website genutzt wird und welche E-Mails und Kampagnen zu Besuchen und K\u{e4}ufen f\u{fc}hren. Nach einigen Gesetzen von US-Bundesstaaten kann das als \u{201e}Verkauf\u{201c} oder \u{201e}Weitergabe\u{201c} personenbezogener Daten gelten. Sie k\u{f6}nnen jederzeit widersprechen.",
            ),
            ("accept", "OK"),
            ("reject", "Meine personenbezogenen Daten nicht verkaufen oder weitergeben"),
            (
                "gpc",
                "Ihr Browser hat ein Global-Privacy-Control-Signal gesendet: Wir behandeln es als Widerspruch, es wird nichts gemessen.",
            ),
        ],
    ),
    (
        "fr",
        &[
            ("title", "Vos choix de confidentialit\u{e9}"),
            (
                "body",
                "Nous utilisons des cookies pour mesurer l\u{2019}utilisation de ce site et savoir quels e-mails et campagnes m\u{e8}nent \u{e0} des visites et des achats. Selon certaines lois d\u{2019}\u{c9}tats am\u{e9}ricains, cela peut constituer une \u{ab}\u{a0}vente\u{a0}\u{bb} ou un \u{ab}\u{a0}partage\u{a0}\u{bb} de donn\u{e9}es personnelles. Vous pouvez vous y opposer \u{e0} tout moment.",
            ),
            ("accept", "OK"),
            ("reject", "Ne pas vendre ni partager mes informations personnelles"),
            (
                "gpc",
                "Votre navigateur a envoy\u{e9} un signal Global Privacy Control\u{a0}: nous le traitons comme votre opposition, rien n\u{2019}est mesur\u{e9}.",
            ),
        ],
    ),
    (
        "es",
        &[
            ("title", "Sus opciones de privacidad"),
            (
                "body",
                "Usamos cookies para medir c\u{f3}mo se usa este sitio y qu\u{e9} correos y campa\u{f1}as llevan a visitas y compras. Seg\u{fa}n algunas leyes estatales de EE.\u{a0}UU., esto puede considerarse una \u{ab}venta\u{bb} o un \u{ab}intercambio\u{bb} de informaci\u{f3}n personal. Puede oponerse en cualquier momento.",
            ),
            ("accept", "Entendido"),
            ("reject", "No vender ni compartir mi informaci\u{f3}n personal"),
            (
                "gpc",
                "Su navegador envi\u{f3} una se\u{f1}al Global Privacy Control: la tratamos como su solicitud de exclusi\u{f3}n y no se mide nada.",
            ),
        ],
    ),
];

/// The best of `available` (lower-case tags) for an `Accept-Language` header:
/// ranges by quality (ties in header order), each matching a language exactly
/// or by its primary subtag (`de-AT` → `de`); `q=0` never matches. `None`
/// when nothing matches.
pub fn choose_language<'a>(accept_language: &str, available: &[&'a str]) -> Option<&'a str> {
    let mut ranges: Vec<(u16, usize, String)> = accept_language
        .split(',')
        .take(MAX_LANGUAGE_RANGES)
        .enumerate()
        .filter_map(|(i, part)| {
            let mut it = part.split(';');
            let tag = it.next()?.trim().to_ascii_lowercase();
            if tag.is_empty() || tag.len() > 35 {
                return None;
            }
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.parse::<f32>().ok())
                .next()
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            Some(((q * 1000.0) as u16, i, tag))
        })
        .filter(|(q, _, _)| *q > 0)
        .collect();
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.iter().find_map(|(_, _, tag)| {
        let primary = tag.split('-').next().unwrap_or(tag);
        available.iter().copied().find(|a| *a == tag).or_else(|| available.iter().copied().find(|a| *a == primary))
    })
}

/// The texts the config answer carries: the site's `texts`, then for a
/// notice form ([`NOTICE`]) the notice's, then the region's own
/// (`region_texts[region]`); later layers win key by key.
pub fn for_region(site_texts: &Texts, notice: bool, region_texts: Option<&Texts>) -> Texts {
    let mut out = site_texts.clone();
    if notice {
        for (lang, pairs) in NOTICE {
            let entry = out.entry(lang.to_string()).or_default();
            for (k, v) in *pairs {
                entry.insert(k.to_string(), v.to_string());
            }
        }
    }
    for (lang, keys) in region_texts.into_iter().flatten() {
        out.entry(lang.clone()).or_default().extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_by_quality_then_order_then_primary_subtag() {
        let langs = ["en", "de", "fr", "es"];
        assert_eq!(choose_language("de-AT,de;q=0.9,en;q=0.8", &langs), Some("de"));
        assert_eq!(choose_language("pt-BR, fr;q=0.5, en;q=0.7", &langs), Some("en"));
        assert_eq!(choose_language("es-419", &langs), Some("es"));
        assert_eq!(choose_language("fr;q=0, de;q=0.1", &langs), Some("de"), "q=0 is a refusal");
        assert_eq!(choose_language("ja, zh", &langs), None);
        assert_eq!(choose_language("", &langs), None);
        assert_eq!(choose_language(&"x,".repeat(10_000), &langs), None, "bounded");
        assert_eq!(choose_language("pt-br", &["pt-br", "pt"]), Some("pt-br"), "an exact tag first");
    }

    #[test]
    fn notice_texts_exist_for_every_shipped_language_and_region_texts_win() {
        for lang in SHIPPED_LANGUAGES {
            let texts = NOTICE.iter().find(|(l, _)| l == lang).map(|(_, t)| *t).unwrap();
            for key in ["title", "body", "accept", "reject", "gpc"] {
                assert!(texts.iter().any(|(k, v)| *k == key && !v.is_empty()), "{lang} {key}");
            }
        }
        let mut site = Texts::new();
        site.entry("en".into()).or_default().insert("title".into(), "Site title".into());
        let mut region = Texts::new();
        region.entry("en".into()).or_default().insert("reject".into(), "Opt out".into());
        let plain = for_region(&site, false, Some(&region));
        assert_eq!(plain["en"]["title"], "Site title");
        assert_eq!(plain["en"]["reject"], "Opt out");
        let notice = for_region(&site, true, Some(&region));
        assert_eq!(notice["en"]["title"], "Your privacy choices");
        assert_eq!(notice["en"]["reject"], "Opt out", "region texts over the notice");
        assert_eq!(notice["de"]["reject"], "Meine personenbezogenen Daten nicht verkaufen oder weitergeben");
    }
}
