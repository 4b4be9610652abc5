//! A minimal MaxMind DB (`.mmdb`) writer, so that GeoIP tests run on data
//! they define themselves: IPv4 networks mapped to country, region and city
//! in the GeoIP2-City layout. Implements the parts of the MaxMind DB format
//! 2.0 spec that such a file needs: a binary search tree with 32-bit records,
//! the data section (maps, UTF-8 strings, unsigned integers, arrays) and the
//! metadata section.
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

enum Value<'a> {
    Str(&'a str),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'a str, Value<'a>)>),
    Array(Vec<Value<'a>>),
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (ext, base) = if ty > 7 { (Some(ty - 7), 0u8) } else { (None, ty << 5) };
    let (small, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else {
        let s = size - 285;
        (30, vec![(s >> 8) as u8, s as u8])
    };
    out.push(base | small);
    if let Some(e) = ext {
        out.push(e);
    }
    out.extend(extra);
}

fn encode(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::U16(n) => uint(out, 5, u64::from(*n)),
        Value::U32(n) => uint(out, 6, u64::from(*n)),
        Value::U64(n) => uint(out, 9, *n),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &Value::Str(k));
                encode(out, v);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for i in items {
                encode(out, i);
            }
        }
    }
}

fn uint(out: &mut Vec<u8>, ty: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// Builds the database file contents.
pub fn build(entries: &[Entry]) -> Vec<u8> {
    // Data section: one record per entry.
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(data.len());
        let record = Value::Map(vec![
            ("city", Value::Map(vec![("names", Value::Map(vec![("en", Value::Str(e.city))]))])),
            (
                "country",
                Value::Map(vec![
                    ("iso_code", Value::Str(e.country)),
                    ("names", Value::Map(vec![("en", Value::Str(e.country))])),
                ]),
            ),
            ("subdivisions", Value::Array(vec![Value::Map(vec![("iso_code", Value::Str(e.region))])])),
        ]);
        encode(&mut data, &record);
    }

    // Tree: node i has [left, right]; None = empty, Some(Ok(n)) = node, Some(Err(d)) = data index.
    let mut nodes: Vec<[Option<Result<usize, usize>>; 2]> = vec![[None, None]];
    for (di, e) in entries.iter().enumerate() {
        let bits = u32::from(e.net);
        let mut node = 0;
        for depth in 0..e.prefix {
            let bit = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == e.prefix {
                nodes[node][bit] = Some(Err(di));
            } else {
                node = match nodes[node][bit] {
                    Some(Ok(n)) => n,
                    _ => {
                        nodes.push([None, None]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Some(Ok(n));
                        n
                    }
                };
            }
        }
    }
    let node_count = nodes.len();
    let mut out = Vec::new();
    for n in &nodes {
        for r in n {
            let v = match r {
                None => node_count,
                Some(Ok(i)) => *i,
                Some(Err(d)) => node_count + 16 + offsets[*d],
            };
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let meta = Value::Map(vec![
        ("binary_format_major_version", Value::U16(2)),
        ("binary_format_minor_version", Value::U16(0)),
        ("build_epoch", Value::U64(1_700_000_000)),
        ("database_type", Value::Str("GeoIP2-City")),
        ("description", Value::Map(vec![("en", Value::Str("ktra test database"))])),
        ("ip_version", Value::U16(4)),
        ("languages", Value::Array(vec![Value::Str("en")])),
        ("node_count", Value::U32(node_count as u32)),
        ("record_size", Value::U16(32)),
    ]);
    encode(&mut out, &meta);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktra_collector::enrich::{Geo, GeoIp};

    #[test]
    fn the_collectors_reader_finds_what_was_written() {
        let db = build(&[
            Entry { net: Ipv4Addr::new(81, 2, 69, 0), prefix: 24, country: "GB", region: "ENG", city: "London" },
            Entry { net: Ipv4Addr::new(203, 0, 113, 0), prefix: 25, country: "DE", region: "BE", city: "Berlin" },
        ]);
        let dir = std::env::temp_dir().join(format!("ktra-mmdb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.mmdb");
        std::fs::write(&path, db).unwrap();
        let geo = GeoIp::open(&path).unwrap();
        assert_eq!(
            geo.lookup("81.2.69.142".parse().unwrap()),
            Geo { country: "GB".into(), region: "ENG".into(), city: "London".into() }
        );
        assert_eq!(geo.lookup("203.0.113.5".parse().unwrap()).city, "Berlin");
        assert_eq!(geo.lookup("203.0.113.200".parse().unwrap()), Geo::default());
        assert_eq!(geo.lookup("8.8.8.8".parse().unwrap()), Geo::default());
    }
}
