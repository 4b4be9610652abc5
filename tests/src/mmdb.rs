//! GeoIP databases the tests define themselves: IPv4 networks mapped to
//! country, region and city in the GeoIP2-City layout, written as MaxMind DB
//! (`.mmdb`) files by the `maxminddb-writer` crate. This module only says
//! what a record holds; the file format (search tree, data section,
//! metadata) is the crate's. The test below reads the file back with
//! `maxminddb`, the collector's reader.
use maxminddb_writer::paths::IpAddrWithMask;
use maxminddb_writer::Database;
use serde::Serialize;
use std::net::Ipv4Addr;

/// One network and what it maps to.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Network address.
    pub net: Ipv4Addr,
    /// Prefix length (0..=32).
    pub prefix: u8,
    /// ISO country code.
    pub country: &'static str,
    /// ISO subdivision code.
    pub region: &'static str,
    /// English city name.
    pub city: &'static str,
}

/// The GeoIP2-City fields the collector reads.
#[derive(Serialize)]
struct CityRecord {
    city: Named,
    country: Country,
    subdivisions: [Subdivision; 1],
}

#[derive(Serialize)]
struct Named {
    names: English,
}

#[derive(Serialize)]
struct English {
    en: &'static str,
}

#[derive(Serialize)]
struct Country {
    iso_code: &'static str,
    names: English,
}

#[derive(Serialize)]
struct Subdivision {
    iso_code: &'static str,
}

/// Builds the database file contents.
pub fn build(entries: &[Entry]) -> Vec<u8> {
    let mut db = Database::default();
    db.metadata.database_type = "GeoIP2-City".into();
    db.metadata.binary_format_major_version = 2;
    db.metadata.build_epoch = 1_700_000_000;
    db.metadata.languages = vec!["en".into()];
    db.metadata.description = [("en".into(), "ktra test database".into())].into();
    for e in entries {
        let record = CityRecord {
            city: Named { names: English { en: e.city } },
            country: Country { iso_code: e.country, names: English { en: e.country } },
            subdivisions: [Subdivision { iso_code: e.region }],
        };
        let data = db.insert_value(record).expect("a GeoIP2-City record serializes");
        db.insert_node(IpAddrWithMask::new(e.net.into(), e.prefix), data);
    }
    db.write_to(Vec::new()).expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktra_collector::enrich::{Geo, GeoIp};
    use maxminddb::{geoip2, Reader};

    /// London on 81.2.69.0/24, Berlin on 203.0.113.0/`berlin_prefix`.
    fn test_db(berlin_prefix: u8) -> Vec<u8> {
        build(&[
            Entry { net: Ipv4Addr::new(81, 2, 69, 0), prefix: 24, country: "GB", region: "ENG", city: "London" },
            Entry {
                net: Ipv4Addr::new(203, 0, 113, 0),
                prefix: berlin_prefix,
                country: "DE",
                region: "BE",
                city: "Berlin",
            },
        ])
    }

    #[test]
    fn maxminddb_reads_back_what_was_written() {
        let db = test_db(24);
        let reader = Reader::from_source(db.as_slice()).unwrap();
        assert_eq!(reader.metadata.database_type, "GeoIP2-City");
        assert_eq!(reader.metadata.ip_version, 4);
        for (ip, country, region, city) in
            [("81.2.69.142", "GB", "ENG", "London"), ("203.0.113.200", "DE", "BE", "Berlin")]
        {
            let record: geoip2::City = reader.lookup(ip.parse().unwrap()).unwrap().unwrap();
            assert_eq!(record.country.and_then(|c| c.iso_code), Some(country), "{ip}");
            let subdivisions = record.subdivisions.unwrap_or_default();
            assert_eq!(subdivisions.first().and_then(|s| s.iso_code), Some(region), "{ip}");
            assert_eq!(record.city.and_then(|c| c.names).and_then(|n| n.get("en").copied()), Some(city), "{ip}");
        }
        for ip in ["81.2.70.1", "203.0.112.255", "8.8.8.8", "0.0.0.0", "255.255.255.255"] {
            assert!(reader.lookup::<geoip2::City>(ip.parse().unwrap()).unwrap().is_none(), "{ip}");
        }
    }

    #[test]
    fn the_collectors_reader_finds_what_was_written() {
        let dir = crate::fresh_dir("mmdb");
        let path = dir.join("t.mmdb");
        std::fs::write(&path, test_db(25)).unwrap();
        let geo = GeoIp::open(&path).unwrap();
        assert_eq!(
            geo.lookup("81.2.69.142".parse().unwrap()),
            Geo { country: "GB".into(), region: "ENG".into(), city: "London".into() }
        );
        assert_eq!(
            geo.lookup("203.0.113.5".parse().unwrap()),
            Geo { country: "DE".into(), region: "BE".into(), city: "Berlin".into() }
        );
        // Outside the /25.
        assert_eq!(geo.lookup("203.0.113.200".parse().unwrap()), Geo::default());
        assert_eq!(geo.lookup("8.8.8.8".parse().unwrap()), Geo::default());
    }
}
