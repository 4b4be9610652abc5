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
        let c = Claims { v: 1, c: s.chars().take(64).collect(), s: "site".into(), p: vec![], r: 1, e: 1, root: String::new() };
        assert_eq!(key.verify(&key.sign(&c)).ok(), Some(c));
    }
});
