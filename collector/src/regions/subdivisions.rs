//! Subdivision codes for databases that name subdivisions instead of coding
//! them (DB-IP lite as packaged by ip-location-db has `state1 = "California"`,
//! GeoLite2 has `iso_code = "CA"`): the US states, the District of Columbia
//! and the territories, by English name, so a `US-CA` rule works with both.

/// (English name, ISO 3166-2:US code without the `US-` prefix).
pub const US_STATES: &[(&str, &str)] = &[
    ("Alabama", "AL"),
    ("Alaska", "AK"),
    ("Arizona", "AZ"),
    ("Arkansas", "AR"),
    ("California", "CA"),
    ("Colorado", "CO"),
    ("Connecticut", "CT"),
    ("Delaware", "DE"),
    ("District of Columbia", "DC"),
    ("Florida", "FL"),
    ("Georgia", "GA"),
    ("Hawaii", "HI"),
    ("Idaho", "ID"),
    ("Illinois", "IL"),
    ("Indiana", "IN"),
    ("Iowa", "IA"),
    ("Kansas", "KS"),
    ("Kentucky", "KY"),
    ("Louisiana", "LA"),
    ("Maine", "ME"),
    ("Maryland", "MD"),
    ("Massachusetts", "MA"),
    ("Michigan", "MI"),
    ("Minnesota", "MN"),
    ("Mississippi", "MS"),
    ("Missouri", "MO"),
    ("Montana", "MT"),
    ("Nebraska", "NE"),
    ("Nevada", "NV"),
    ("New Hampshire", "NH"),
    ("New Jersey", "NJ"),
    ("New Mexico", "NM"),
    ("New York", "NY"),
    ("North Carolina", "NC"),
    ("North Dakota", "ND"),
    ("Ohio", "OH"),
    ("Oklahoma", "OK"),
    ("Oregon", "OR"),
    ("Pennsylvania", "PA"),
    ("Rhode Island", "RI"),
    ("South Carolina", "SC"),
    ("South Dakota", "SD"),
    ("Tennessee", "TN"),
    ("Texas", "TX"),
    ("Utah", "UT"),
    ("Vermont", "VT"),
    ("Virginia", "VA"),
    ("Washington", "WA"),
    ("West Virginia", "WV"),
    ("Wisconsin", "WI"),
    ("Wyoming", "WY"),
    ("Puerto Rico", "PR"),
    ("Guam", "GU"),
    ("American Samoa", "AS"),
    ("Northern Mariana Islands", "MP"),
    ("U.S. Virgin Islands", "VI"),
];

/// The code of a subdivision named `name` in `country`, where known.
pub fn code_for(country: &str, name: &str) -> Option<&'static str> {
    match country {
        "US" => US_STATES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| *c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_map_to_codes() {
        assert_eq!(super::code_for("US", "California"), Some("CA"));
        assert_eq!(super::code_for("US", "new york"), Some("NY"));
        assert_eq!(super::code_for("CA", "California"), None);
        assert_eq!(super::US_STATES.len(), 56);
    }
}
