//! End-to-end latency of behavioural webhooks: from an event's receipt by
//! the collector to the webhook's arrival at a receiver on loopback.
//!
//! Each of `leads` new visitors sends one batch (an `identify` naming a new
//! lead and a page view) at a fixed rate; the collector (configured by the
//! caller with a `page_visit` rule, `once_per = "lead"`, pointing at
//! `--listen`) fires one webhook per lead. The latency of a lead is the time
//! from the moment its batch was answered 202 (the collector has accepted
//! it) to the webhook's arrival; the send time is reported too. Prints one
//! JSON report.
use crate::workload::{consent_token, USER_AGENT};
use anyhow::{Context, Result};
use axum::routing::post;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The collector.
    pub addr: SocketAddr,
    /// Where the receiver listens (the collector's rule points here).
    pub listen: SocketAddr,
    /// Site id.
    pub site: String,
    /// Consent token secret of the collector.
    pub secret: String,
    /// Visitors, one lead each.
    pub leads: usize,
    /// Batches per second.
    pub rate: f64,
}

/// The report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Leads sent.
    pub leads: usize,
    /// Batches answered 202.
    pub accepted: usize,
    /// Webhooks received for them (one per lead expected).
    pub delivered: usize,
    /// More than one webhook for a lead.
    pub duplicates: usize,
    /// Acceptance → webhook received, ms: p50, p90, p99, max.
    pub latency_ms: [f64; 4],
    /// Send → 202, ms: p50, p99 (the ingest's own answer time at this rate).
    pub answer_ms: [f64; 2],
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// One POST on its own connection; returns the status.
async fn send(addr: SocketAddr, body: &str) -> Result<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "POST /v1/events HTTP/1.1\r\nhost: {addr}\r\ncontent-type: text/plain\r\nuser-agent: {USER_AGENT}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await?;
    let status = std::str::from_utf8(&head[9..12])?.parse()?;
    Ok(status)
}

/// Runs it.
pub async fn run(cfg: Config) -> Result<Report> {
    let arrivals: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
    let got = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let got = got.clone();
            async move {
                let now = Instant::now();
                let lead = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["data"]["lead_id"].as_str().map(str::to_string))
                    .unwrap_or_default();
                got.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(lead).or_default().push(now);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("bind {}", cfg.listen))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let token = consent_token(&cfg.secret, &cfg.site);
    let run = format!("{:08x}", rand::random::<u32>());
    let period = Duration::from_secs_f64(1.0 / cfg.rate.max(0.1));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(cfg.leads);
    for i in 0..cfg.leads {
        tokio::time::sleep_until((start + period * i as u32).into()).await;
        let lead = format!("bench-lead-{run}-{i}");
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
        let body = serde_json::json!({
            "site": cfg.site, "consent": token, "vid": format!("v-{run}-{i}"), "sid": format!("s-{run}-{i}"),
            "events": [
                {"id": uuid(), "type": "identify", "ts": now_ms, "url": "https://shop.example/signup", "lead_id": lead},
                {"id": uuid(), "type": "page_view", "ts": now_ms, "url": "https://shop.example/pricing"},
            ]
        })
        .to_string();
        let addr = cfg.addr;
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let status = send(addr, &body).await.unwrap_or(0);
            (lead, sent, Instant::now(), status)
        }));
    }
    let mut answered = Vec::with_capacity(tasks.len());
    for t in tasks {
        answered.push(t.await?);
    }
    let accepted: Vec<_> = answered.iter().filter(|a| a.3 == 202).collect();
    // Wait for the webhooks (bounded: 20 s after the last answer).
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        let n = arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        if n >= accepted.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // a duplicate would land by now
    let got = arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mut latency: Vec<f64> = accepted
        .iter()
        .filter_map(|(lead, _, ok_at, _)| got.get(lead).and_then(|v| v.first()).map(|at| ms(at.duration_since(*ok_at))))
        .collect();
    latency.sort_by(f64::total_cmp);
    let mut answer: Vec<f64> = accepted.iter().map(|(_, sent, ok_at, _)| ms(ok_at.duration_since(*sent))).collect();
    answer.sort_by(f64::total_cmp);
    Ok(Report {
        leads: cfg.leads,
        accepted: accepted.len(),
        delivered: latency.len(),
        duplicates: got.values().filter(|v| v.len() > 1).count(),
        latency_ms: [0.5, 0.9, 0.99, 1.0].map(|q| quantile(&latency, q)),
        answer_ms: [0.5, 0.99].map(|q| quantile(&answer, q)),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}
