//! Regional consent: which consent model applies where the visitor is.
//!
//! `[sites.ID.regions]` maps regions to a [`ConsentModel`] (`opt_in`,
//! `opt_out`, `none`). A region is a US state or other subdivision (`US-CA`),
//! an ISO country code (`FR`), the group `eu` (the EU, the EEA, the UK and
//! Switzerland: [`EU_GROUP`]) or `default`; the most specific one wins. A
//! visitor whose location is unknown (no GeoIP database, a private address,
//! an address the database does not know) gets the strictest model the site
//! configures, as an unknown lead is treated as European until proven
//! otherwise. Without a table the model is `opt_in` everywhere: nothing
//! changes for a site that does not opt into regions.
//!
//! The decision is the server's alone ([`decide`], from the request's GeoIP):
//! `/v1/config/{site}` answers it, `POST /v1/consent` records it in
//! `consent_log` and signs it into the token, and `/v1/events` checks an
//! implied-consent token against the model where the request comes from.
//! Texts of the notice form and the choice of language are in [`texts`].
use crate::enrich::geo::Geo;
use ktra_schema::consent::ConsentModel;
use serde::Deserialize;
use std::collections::BTreeMap;

pub mod subdivisions;
pub mod texts;

/// The EU member states, the other EEA states (IS, LI, NO), the United
/// Kingdom and Switzerland: the countries of the `eu` region group.
pub const EU_GROUP: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", // EU 27
    "IS", "LI", "NO", // EEA
    "GB", "CH",
];

/// The group of EU, EEA, UK and Switzerland.
pub const EU: &str = "eu";
/// The rule for every place no other rule names.
pub const DEFAULT: &str = "default";
/// The region answered when the visitor's location is unknown.
pub const UNKNOWN: &str = "unknown";

/// `[sites.ID.regions]`: region → consent model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Regions(pub BTreeMap<String, ConsentModel>);

/// What [`decide`] decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The rule that decided: `eu`, `US-CA`, `FR`, `default`, or `unknown`.
    pub region: String,
    /// Where the visitor is, as precisely as known: `US-CA`, `DE`, or empty.
    pub location: String,
    /// The model in force.
    pub model: ConsentModel,
}

/// Whether `key` is a region a site may configure.
pub fn is_region_key(key: &str) -> bool {
    let code = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    match key.split_once('-') {
        _ if key == EU || key == DEFAULT => true,
        // Not a country: the group is written `eu`.
        _ if key == "EU" => false,
        Some((country, sub)) => {
            code(country, 2, 2) && country.bytes().all(|b| b.is_ascii_uppercase()) && code(sub, 1, 3)
        }
        None => code(key, 2, 2) && key.bytes().all(|b| b.is_ascii_uppercase()),
    }
}

impl Regions {
    /// Checks every key (see [`is_region_key`]).
    pub fn validate(&self) -> Result<(), String> {
        match self.0.keys().find(|k| !is_region_key(k)) {
            Some(k) => Err(format!(
                "region {k:?} must be \"eu\", \"default\", an ISO country code (\"FR\") or a subdivision (\"US-CA\")"
            )),
            None => Ok(()),
        }
    }

    /// The strictest model configured; `opt_in` without a table.
    pub fn strictest(&self) -> ConsentModel {
        self.0.values().copied().max_by_key(|m| m.strictness()).unwrap_or_default()
    }
}

/// Checks a site's `regions`, `region_texts` and `languages`.
pub fn validate_site(site: &crate::config::SiteConfig) -> Result<(), String> {
    site.regions.validate()?;
    if let Some(k) = site.region_texts.keys().find(|k| !is_region_key(k) && k.as_str() != UNKNOWN) {
        return Err(format!("region_texts: {k:?} is not a region"));
    }
    let tag = |l: &String| !l.is_empty() && l.len() <= 16 && l.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    match site.languages.iter().find(|l| !tag(l)) {
        Some(l) => Err(format!("languages: {l:?} must be a lower-case language tag")),
        None => Ok(()),
    }
}

/// The consent model for a visitor located by `geo`: the subdivision's rule,
/// else the country's, else `eu` for its countries, else `default`, else
/// `opt_in`. Unknown location: the strictest configured model.
pub fn decide(regions: &Regions, geo: &Geo) -> Decision {
    let country = geo.country.to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Decision { region: UNKNOWN.into(), location: String::new(), model: regions.strictest() };
    }
    let sub = geo.region.to_ascii_uppercase();
    let subdivision = (!sub.is_empty() && sub.len() <= 3 && sub.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| format!("{country}-{sub}"));
    let location = subdivision.clone().unwrap_or_else(|| country.clone());
    let in_eu = EU_GROUP.contains(&country.as_str());
    let candidates = [subdivision, Some(country), in_eu.then(|| EU.to_string()), Some(DEFAULT.to_string())];
    for key in candidates.into_iter().flatten() {
        if let Some(model) = regions.0.get(&key) {
            return Decision { region: key, location, model: *model };
        }
    }
    Decision { region: DEFAULT.into(), location, model: ConsentModel::OptIn }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentModel::*;

    fn geo(country: &str, region: &str) -> Geo {
        Geo { country: country.into(), region: region.into(), city: String::new() }
    }

    fn regions(pairs: &[(&str, ConsentModel)]) -> Regions {
        Regions(pairs.iter().map(|(k, m)| (k.to_string(), *m)).collect())
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let r = regions(&[("eu", OptIn), ("US-CA", OptOut), ("US", None), ("default", OptOut), ("FR", OptOut)]);
        let d = |c, s| {
            let d = decide(&r, &geo(c, s));
            (d.region, d.model)
        };
        assert_eq!(d("DE", "BE"), ("eu".into(), OptIn), "an EU country");
        assert_eq!(d("FR", ""), ("FR".into(), OptOut), "a country rule beats the group");
        assert_eq!(d("GB", "ENG"), ("eu".into(), OptIn), "the UK is in the group");
        assert_eq!(d("CH", ""), ("eu".into(), OptIn), "and Switzerland");
        assert_eq!(d("NO", ""), ("eu".into(), OptIn), "and the EEA");
        assert_eq!(d("US", "CA"), ("US-CA".into(), OptOut), "a state rule beats the country");
        assert_eq!(d("US", "TX"), ("US".into(), None));
        assert_eq!(d("JP", "13"), ("default".into(), OptOut));
        assert_eq!(d("", ""), ("unknown".into(), OptIn), "unknown: the strictest configured");
        assert_eq!(decide(&r, &geo("US", "CA")).location, "US-CA");
    }

    #[test]
    fn unknown_is_the_strictest_and_the_shipped_default_is_opt_in() {
        assert_eq!(decide(&Regions::default(), &geo("US", "CA")).model, OptIn, "no table: opt_in everywhere");
        assert_eq!(decide(&Regions::default(), &geo("", "")).model, OptIn);
        let lax = regions(&[("default", None), ("US-CA", OptOut)]);
        assert_eq!(decide(&lax, &geo("", "")).model, OptOut, "strictest of none and opt_out");
        assert_eq!(decide(&lax, &geo("BR", "")).model, None);
        assert_eq!(decide(&lax, &geo("DE", "")).model, None, "the group only where configured");
        let garbage = geo("<script>", "x");
        assert_eq!(decide(&lax, &garbage).region, "unknown");
    }

    #[test]
    fn keys_are_checked() {
        for ok in ["eu", "default", "FR", "US-CA", "GB-ENG", "JP-13"] {
            assert!(is_region_key(ok), "{ok}");
        }
        for bad in ["EU", "fr", "us-ca", "USA", "US-", "-CA", "US-CALI", "", "F1"] {
            assert!(!is_region_key(bad), "{bad}");
        }
        assert!(regions(&[("Europe", OptIn)]).validate().is_err());
    }
}
