//! Consent tokens: `<payload>.<signature>`, both base64url without padding.
//! The payload is JSON the loader can read
//! (`{"v":1,"c":id,"s":site,"p":[purposes],"r":revision,"e":expiry,"root":id,"m":model,"i":implied}`); the
//! signature is HMAC-SHA256 over the encoded payload with a key derived from
//! the server secret, checked in constant time.
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use ktra_schema::RejectReason;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type HmacSha256 = Hmac<Sha256>;

pub use ktra_schema::limits::MAX_TOKEN_LEN;

/// What a consent token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Format version (1).
    #[serde(rename = "v")]
    pub version: u8,
    /// Consent id (the `consent_log` row).
    #[serde(rename = "c")]
    pub consent_id: String,
    /// Site id.
    #[serde(rename = "s")]
    pub site: String,
    /// Granted optional purposes.
    #[serde(rename = "p")]
    pub purposes: Vec<String>,
    /// Banner revision the visitor saw.
    #[serde(rename = "r")]
    pub revision: u32,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    pub expires: u64,
    /// The first decision of this visitor's chain of decisions (each later
    /// one names the previous token): what a withdrawal with this token may
    /// erase. Empty in tokens made before chains were bound: the token's own id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub root: String,
    /// The consent model in force where the decision was made (`opt_in`,
    /// `opt_out`, `none`; see [`crate::regions`]). Empty in tokens made before
    /// regions: `opt_in`.
    #[serde(rename = "m", default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Implied consent: an `opt_out` or `none` notice the visitor did not
    /// refuse, not an explicit grant. Accepted only where the model allows it.
    #[serde(rename = "i", default, skip_serializing_if = "std::ops::Not::not")]
    pub implied: bool,
}

impl Claims {
    /// The chain's first consent id (see [`Claims::root`]).
    pub fn root_id(&self) -> &str {
        if self.root.is_empty() {
            &self.consent_id
        } else {
            &self.root
        }
    }

    /// Whether a purpose is granted.
    pub fn grants(&self, purpose: &str) -> bool {
        self.purposes.iter().any(|p| p == purpose)
    }
}

/// Signs and verifies tokens with one key.
///
/// The HMAC is keyed once (its inner and outer pads are two SHA-256 blocks
/// of the five a consent token's check takes), and the claims of tokens
/// that verified are kept ([`TokenKey::verify`]): a visitor's batches carry
/// the same token, whose check (base64, HMAC-SHA256, JSON) cost ~28 000
/// instructions per request (callgrind, issue 18).
#[derive(Clone)]
pub struct TokenKey {
    mac: HmacSha256,
    verified: Arc<Mutex<HashMap<Box<str>, Claims>>>,
}

/// Verified tokens kept per key; the map is emptied when full. Only tokens
/// with this key's valid signature get in, each at most [`MAX_TOKEN_LEN`] bytes.
const VERIFIED_ENTRIES: usize = 1024;

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token, or the signature does not match.
    #[error("consent token is malformed or its signature is wrong")]
    Invalid,
}

impl From<TokenError> for RejectReason {
    fn from(_: TokenError) -> Self {
        RejectReason::ConsentInvalid
    }
}

impl TokenKey {
    /// Derives the key for `purpose` (e.g. `"consent"`, `"link"`) from the server secret,
    /// so one secret never signs two kinds of thing with the same key.
    pub fn derive(secret: &[u8], purpose: &str) -> Self {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"ktra/v1/");
        mac.update(purpose.as_bytes());
        let key = mac.finalize().into_bytes();
        let mac = <HmacSha256 as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable_hmac());
        Self { mac, verified: Arc::default() }
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// Signs arbitrary bytes, returning `<b64(payload)>.<b64(sig)>`.
    pub fn sign_bytes(&self, payload: &[u8]) -> String {
        let body = B64.encode(payload);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        let mut out = String::with_capacity(body.len() + 1 + sig.len());
        out.push_str(&body);
        out.push('.');
        out.push_str(&sig);
        out
    }

    /// Verifies `<b64(payload)>.<b64(sig)>` and returns the payload bytes.
    pub fn verify_bytes(&self, token: &str) -> Result<Vec<u8>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let (body, sig) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Invalid)?;
        B64.decode(body).map_err(|_| TokenError::Invalid)
    }

    /// Signs consent claims.
    pub fn sign(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).unwrap_or_default();
        self.sign_bytes(&json)
    }

    /// Verifies a token's signature and decodes its claims, from the tokens
    /// this key verified before when it is one of them (the same string
    /// always verifies to the same claims). Expiry, site, revision and
    /// revocation are the caller's checks.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let lock = || self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(claims) = lock().get(token) {
            return Ok(claims.clone());
        }
        let claims = self.verify_uncached(token)?;
        let mut verified = lock();
        if verified.len() >= VERIFIED_ENTRIES {
            verified.clear();
        }
        verified.insert(token.into(), claims.clone());
        Ok(claims)
    }

    /// [`TokenKey::verify`] without the kept tokens: base64, HMAC, JSON each time.
    pub fn verify_uncached(&self, token: &str) -> Result<Claims, TokenError> {
        let payload = self.verify_bytes(token)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        if claims.version != 1 {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot happen.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims() -> Claims {
        Claims {
            version: 1,
            consent_id: "c1".into(),
            site: "demo".into(),
            purposes: vec!["analytics".into(), "marketing".into()],
            revision: 2,
            expires: 2_000_000_000,
            root: "c0".into(),
            model: "opt_out".into(),
            implied: true,
        }
    }

    #[test]
    fn round_trip_and_payload_is_readable_json() {
        let k = TokenKey::derive(b"secret", "consent");
        let t = k.sign(&claims());
        assert_eq!(k.verify(&t).unwrap(), claims());
        let body = t.split('.').next().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&B64.decode(body).unwrap()).unwrap();
        assert_eq!(json["s"], "demo");
    }

    #[test]
    fn other_key_or_purpose_is_refused() {
        let t = TokenKey::derive(b"secret", "consent").sign(&claims());
        assert!(TokenKey::derive(b"other", "consent").verify(&t).is_err());
        assert!(TokenKey::derive(b"secret", "link").verify(&t).is_err());
    }

    #[test]
    fn kept_tokens_verify_as_before() {
        let k = TokenKey::derive(b"secret", "consent");
        let other = TokenKey::derive(b"secret", "link");
        let mut tokens = Vec::new();
        for i in 0..VERIFIED_ENTRIES + 5 {
            tokens.push(k.sign(&Claims { consent_id: format!("c{i}"), ..claims() }));
        }
        for round in 0..2 {
            for t in &tokens {
                assert_eq!(k.verify(t), k.verify_uncached(t), "round {round}");
                assert!(k.verify(t).is_ok());
                // A token kept by one key is still refused by another (a clone shares the kept tokens).
                assert!(other.verify(t).is_err());
                assert_eq!(k.clone().verify(t), k.verify_uncached(t));
            }
        }
        assert!(k.verified.lock().unwrap().len() <= VERIFIED_ENTRIES);
        let t = &tokens[0];
        let mut tampered = t.clone();
        tampered.pop();
        assert!(k.verify(&tampered).is_err());
    }

    proptest! {
        #[test]
        fn any_tampering_is_refused(pos in 0usize..200, byte in any::<u8>()) {
            let k = TokenKey::derive(b"secret", "consent");
            let t = k.sign(&claims());
            let mut b = t.clone().into_bytes();
            let i = pos % b.len();
            prop_assume!(b[i] != byte);
            b[i] = byte;
            if let Ok(s) = String::from_utf8(b) {
                // base64url without padding can encode the same bytes only one way,
                // so any changed character must fail.
                prop_assert!(k.verify(&s).is_err(), "accepted tampered token {}", s);
            }
        }

        #[test]
        fn garbage_never_panics(s in ".{0,300}") {
            let k = TokenKey::derive(b"secret", "consent");
            let _ = k.verify(&s);
        }
    }
}
