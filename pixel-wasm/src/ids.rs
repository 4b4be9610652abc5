//! Random identifiers: UUID v4 text from 16 random bytes.
use crate::json::hex_digit;
use alloc::string::String;

/// Formats 16 random bytes as a version 4, RFC 4122 variant UUID
/// (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`, lower case).
pub fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push_str("-");
        }
        s.push_str(hex_digit(x >> 4));
        s.push_str(hex_digit(x & 15));
    }
    s
}

/// Whether `s` is an opaque id the collector accepts (visitor, session,
/// click): 1 to 128 characters of `[A-Za-z0-9_.-]`.
pub fn is_token_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= crate::wire::MAX_ID_LEN
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_v4_shape() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let u = uuid_v4([0; 16]);
        assert_eq!(u, "00000000-0000-4000-8000-000000000000");
        let u =
            uuid_v4([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]);
        assert_eq!(u, "12345678-9abc-4ef0-9234-56789abcdef0");
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn collector_parses_our_uuids() {
        for seed in 0u8..=255 {
            let mut b = [0u8; 16];
            for (i, x) in b.iter_mut().enumerate() {
                *x = seed.wrapping_mul(31).wrapping_add(i as u8 * 17);
            }
            let u = uuid_v4(b);
            let parsed = ktra_schema::validate::parse_uuid(&u).unwrap();
            assert_eq!(parsed[6] >> 4, 4, "version nibble");
            assert_eq!(parsed[8] >> 6, 0b10, "variant bits");
            assert!(ktra_schema::validate::is_token_id(&u));
            assert!(is_token_id(&u));
        }
    }

    #[test]
    fn token_ids() {
        assert!(is_token_id("abc-DEF_1.2"));
        assert!(!is_token_id(""));
        assert!(!is_token_id("a b"));
        assert!(!is_token_id(&"x".repeat(129)));
    }
}
