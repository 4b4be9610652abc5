//! A webhook receiver of the test's own on loopback: a real HTTP server that
//! answers with scripted statuses in turn (then 200) and keeps every request
//! it got, with the Standard Webhooks headers.
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: u64,
    /// `webhook-signature`.
    pub signature: String,
    /// The body.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Got {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The receiver; its URL is `url`.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    /// Starts it; it answers `statuses` in turn, then 200.
    pub async fn start(statuses: Vec<u16>) -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let script = Arc::new(Mutex::new(statuses.into_iter()));
        let (g, sc) = (got.clone(), script.clone());
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let (g, sc) = (g.clone(), sc.clone());
                async move {
                    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    g.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Got {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
                        signature: h("webhook-signature"),
                        body,
                        at: Instant::now(),
                    });
                    let status = sc.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next().unwrap_or(200);
                    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("receiver address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, got }
    }

    /// Everything received so far.
    pub fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The bodies received so far, as JSON.
    pub fn bodies(&self) -> Vec<Value> {
        self.got().iter().map(Got::json).collect()
    }

    /// Waits until `n` requests arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Got> {
        let until = Instant::now() + timeout;
        while self.got().len() < n && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got()
    }
}
