//! The consent token parser: any input is refused or verified, never a panic,
//! and a signed token always verifies to the claims that were signed.
#![no_main]
use ktra_collector::consent::token::{Claims, TokenKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = TokenKey::derive(b"fuzz-secret-0123456789abcdef-0123456789", "consent");
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(claims) = key.verify(s) {
            // Only a correctly signed token can verify; re-signing gives a valid token too.
            assert_eq!(key.verify(&key.sign(&claims)).ok(), Some(claims));
        }
        let c = Claims {
            version: 1,
            consent_id: s.chars().take(64).collect(),
            site: "site".into(),
            purposes: vec![],
            revision: 1,
            expires: 1,
            root: String::new(),
            model: String::new(),
            implied: false,
        };
        assert_eq!(key.verify(&key.sign(&c)).ok(), Some(c));
    }
});
