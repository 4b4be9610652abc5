//! The signed email link parser: arbitrary link text and arbitrary payload
//! bytes are refused or decoded, never a panic.
#![no_main]
use ktra_collector::consent::token::TokenKey;
use ktra_collector::email::link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = TokenKey::derive(b"fuzz-secret-0123456789abcdef-0123456789", "link");
    let _ = link::decode(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = link::verify(&key, s, 1_750_000_000);
    }
    // A correctly signed payload of arbitrary bytes must decode or be refused cleanly.
    let signed = key.sign_bytes(data);
    let _ = link::verify(&key, &signed, 1_750_000_000);
});
