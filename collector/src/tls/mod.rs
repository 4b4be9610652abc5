//! TLS termination for tracking domains: rustls (ring), one certificate per
//! domain picked by SNI, reloaded when its files change.
//!
//! ```toml
//! [tls]
//! listen = "0.0.0.0:443"
//! redirect_http = true          # the plain `listen` answers 308 to https
//! [[tls.certs]]
//! domain = "t.shop.example"     # or "*.shop.example"
//! cert = "/etc/ktra/t.shop.example.crt"   # PEM chain, leaf first
//! key = "/etc/ktra/t.shop.example.key"    # PEM private key (PKCS#8, PKCS#1 or SEC1)
//! ```
//!
//! [`Certificates`] is the SNI resolver: an exact name first, then a
//! wildcard one label up; a client without SNI or with an unknown name gets
//! no certificate (the handshake fails) rather than another site's.
//! [`watch`] polls the files' modification times every `reload_secs` and
//! swaps a domain's certificate once both files parse again; a half-written
//! or broken file keeps the previous certificate and is logged. Polling,
//! not inotify: it works the same on every filesystem (and for certbot's
//! symlink swaps), and a few `stat`s per domain every seconds cost nothing.
pub mod listener;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch as signal;

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// HTTPS listen address; none: no TLS listener.
    pub listen: Option<SocketAddr>,
    /// Certificates by domain.
    pub certs: Vec<CertConfig>,
    /// Answer every request on the plain `listen` with a redirect to https
    /// (except `/healthz`, `/readyz`, `/metrics` for probes). Default false.
    pub redirect_http: bool,
    /// How often certificate files are checked for changes, in seconds. Default 5.
    pub reload_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { listen: None, certs: Vec::new(), redirect_http: false, reload_secs: 5 }
    }
}

/// `[[tls.certs]]`: one domain's certificate chain and key, PEM files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertConfig {
    /// The name clients ask for (SNI), e.g. `t.shop.example` or `*.shop.example`.
    pub domain: String,
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Why a certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed.
    #[error("{domain}: {path}: {message}")]
    File {
        /// Domain.
        domain: String,
        /// File.
        path: String,
        /// Why.
        message: String,
    },
    /// The TLS configuration is inconsistent.
    #[error("tls: {0}")]
    Invalid(String),
}

fn file_err(c: &CertConfig, path: &Path, message: impl std::fmt::Display) -> TlsError {
    TlsError::File { domain: c.domain.clone(), path: path.display().to_string(), message: message.to_string() }
}

/// Reads one domain's chain and key.
pub fn load_cert(c: &CertConfig) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&c.cert)
        .map_err(|e| file_err(c, &c.cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(c, &c.cert, e))?;
    if chain.is_empty() {
        return Err(file_err(c, &c.cert, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(&c.key).map_err(|e| file_err(c, &c.key, e))?;
    let key = any_supported_type(&key).map_err(|e| file_err(c, &c.key, e))?;
    let certified = CertifiedKey::new(chain, key);
    certified.keys_match().map_err(|e| file_err(c, &c.key, format!("does not match the certificate: {e}")))?;
    Ok(Arc::new(certified))
}

fn modified(c: &CertConfig) -> Option<(SystemTime, SystemTime)> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(&c.cert)?, m(&c.key)?))
}

/// The certificates by domain (lower case), swapped in place on reload.
#[derive(Debug)]
pub struct Certificates {
    by_name: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    sources: Vec<CertConfig>,
}

impl Certificates {
    /// Loads every configured certificate; any failure is an error at start.
    pub fn load(cfg: &TlsConfig) -> Result<Arc<Self>, TlsError> {
        let mut by_name = HashMap::new();
        for c in &cfg.certs {
            let name = c.domain.trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty() {
                return Err(TlsError::Invalid("a [[tls.certs]] entry has no domain".into()));
            }
            if by_name.insert(name, load_cert(c)?).is_some() {
                return Err(TlsError::Invalid(format!("{} has two certificates", c.domain)));
            }
        }
        Ok(Arc::new(Self { by_name: RwLock::new(by_name), sources: cfg.certs.clone() }))
    }

    /// The certificate for a server name: exact, else the wildcard one label up.
    pub fn for_name(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let map = self.by_name.read().ok()?;
        map.get(&name).or_else(|| name.split_once('.').and_then(|(_, parent)| map.get(&format!("*.{parent}")))).cloned()
    }

    /// Reloads the certificates whose files changed since `seen`; returns how many were swapped.
    fn reload_changed(&self, seen: &mut HashMap<String, (SystemTime, SystemTime)>) -> usize {
        let mut swapped = 0;
        for c in &self.sources {
            let Some(now) = modified(c) else {
                tracing::warn!(domain = %c.domain, "certificate files are missing; keeping the loaded one");
                continue;
            };
            if seen.get(&c.domain) == Some(&now) {
                continue;
            }
            match load_cert(c) {
                Ok(key) => {
                    if let Ok(mut map) = self.by_name.write() {
                        map.insert(c.domain.trim_end_matches('.').to_ascii_lowercase(), key);
                    }
                    seen.insert(c.domain.clone(), now);
                    swapped += 1;
                    tracing::info!(domain = %c.domain, "certificate reloaded");
                }
                // Maybe half written: tried again at the next poll.
                Err(e) => tracing::warn!(error = %e, "certificate changed but cannot be loaded; keeping the old one"),
            }
        }
        swapped
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello.server_name().and_then(|n| self.for_name(n))
    }
}

/// The rustls acceptor for `certs` (HTTP/1.1 over TLS 1.2 and 1.3).
pub fn acceptor(certs: Arc<Certificates>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    // ring, as reqwest in this tree uses (aws-lc-rs would need cmake and a C
    // toolchain at build); its provider is deprecated only for lacking
    // post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Polls the certificate files every `interval` until `stop`, swapping changed ones.
pub async fn watch(certs: Arc<Certificates>, interval: Duration, mut stop: signal::Receiver<bool>) {
    let mut seen: HashMap<String, (SystemTime, SystemTime)> =
        certs.sources.iter().filter_map(|c| Some((c.domain.clone(), modified(c)?))).collect();
    loop {
        tokio::select! {
            _ = crate::sink::wait_true(&mut stop) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let certs = certs.clone();
        let mut s = std::mem::take(&mut seen);
        seen = tokio::task::spawn_blocking(move || {
            certs.reload_changed(&mut s);
            s
        })
        .await
        .unwrap_or_default();
    }
}

/// The redirect the plain listener answers with when `redirect_http` is on:
/// 308 to the same host and path over https (the TLS port when it is not 443).
pub fn https_location(host: &str, path_and_query: &str, tls_port: u16) -> Option<String> {
    let host = host
        .rsplit_once(':')
        .map(|(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { host })
        .unwrap_or(host);
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid {
        return None;
    }
    let port = if tls_port == 443 { String::new() } else { format!(":{tls_port}") };
    Some(format!("https://{host}{port}{path_and_query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_host_and_path_and_refuse_junk_hosts() {
        assert_eq!(
            https_location("t.shop.example", "/ktra.js?x=1", 443).as_deref(),
            Some("https://t.shop.example/ktra.js?x=1")
        );
        assert_eq!(https_location("t.shop.example:8080", "/", 8443).as_deref(), Some("https://t.shop.example:8443/"));
        assert_eq!(https_location("evil.example/@x", "/", 443), None);
        assert_eq!(https_location("", "/", 443), None);
    }
}
