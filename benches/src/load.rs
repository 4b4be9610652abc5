//! The HTTP load generator: `N` keep-alive HTTP/1.1 connections (hyper
//! client, one request in flight per connection) posting event batches.
//!
//! - **Closed loop** (saturation): every connection sends its next request as
//!   soon as the previous answer arrived; throughput is what the server can
//!   take with `N` requests in flight, latency is per request.
//! - **Open loop** (fixed rate): a pacing thread releases request tickets at
//!   their *intended* send times (`start + i / rate`) into a queue shared by
//!   the connections; latency is measured from the intended time, so time a
//!   request spent waiting for a free connection behind a slow answer is
//!   counted (coordinated omission corrected, as wrk2 does).
//!
//! Requests sent during the warm-up are not in the statistics but their
//! events are counted as sent (they must arrive in ClickHouse too). A run
//! stops by itself: no new request after `warmup + duration`, in-flight
//! requests get `grace` to finish.
use crate::workload::{BodyMaker, ORIGIN, USER_AGENT};
use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, ORIGIN as ORIGIN_HEADER, USER_AGENT as UA_HEADER};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

/// Closed or open loop.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Mode {
    /// Back-to-back on every connection.
    Closed,
    /// A fixed offered rate, in requests per second.
    Open {
        /// Requests per second.
        rate: f64,
    },
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server address (loopback).
    pub addr: SocketAddr,
    /// Request path, e.g. `/v1/events`.
    pub path: String,
    /// Connections (= requests in flight at most).
    pub connections: usize,
    /// Closed or open loop.
    pub mode: Mode,
    /// Not measured, but sent.
    pub warmup: Duration,
    /// Measured.
    pub duration: Duration,
    /// How long in-flight requests may take after the end.
    pub grace: Duration,
    /// Events per request.
    pub events_per_request: usize,
    /// Visitor id prefix (the phase tag).
    pub tag: String,
    /// Consent token.
    pub token: String,
    /// Site id.
    pub site: String,
}

/// What a run measured. Latencies in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Phase tag.
    pub tag: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Offered rate (open loop), requests per second.
    pub offered_rps: Option<f64>,
    /// Connections.
    pub connections: usize,
    /// Events per request.
    pub events_per_request: usize,
    /// Average request body size, bytes.
    pub body_bytes: usize,
    /// Warm-up seconds (sent, not measured).
    pub warmup_s: f64,
    /// Measured seconds.
    pub seconds: f64,
    /// 2xx answers in the measured window.
    pub measured_requests: u64,
    /// Completed requests per second in the measured window.
    pub rps: f64,
    /// Accepted events per second in the measured window.
    pub eps: f64,
    /// Latency percentiles over the measured window.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Mean.
    pub mean_us: u64,
    /// Every 2xx request of the run, warm-up included.
    pub ok_requests: u64,
    /// Every event of a 2xx request, warm-up included: what must arrive in ClickHouse.
    pub ok_events: u64,
    /// Non-2xx answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Connection or protocol errors.
    pub io_errors: u64,
    /// Open loop: tickets never sent because the run ended (server too slow).
    pub unsent: u64,
    /// CPU seconds used by the load generator itself.
    pub client_cpu_s: f64,
    /// Per 100 ms of the measured window (by send or intended time):
    /// `[start ms, requests, max latency µs]`, to see when slow answers happen.
    pub timeline: Vec<[u64; 3]>,
}

#[derive(Default)]
struct Tally {
    lat: Vec<u32>,
    /// (requests, max µs) per 100 ms bucket of the measured window.
    buckets: Vec<(u64, u32)>,
    measured: u64,
    ok_requests: u64,
    ok_events: u64,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    body_bytes: u64,
    bodies: u64,
    unsent: u64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.lat.extend(o.lat);
        if self.buckets.len() < o.buckets.len() {
            self.buckets.resize(o.buckets.len(), (0, 0));
        }
        for (i, (n, m)) in o.buckets.into_iter().enumerate() {
            self.buckets[i].0 += n;
            self.buckets[i].1 = self.buckets[i].1.max(m);
        }
        self.measured += o.measured;
        self.ok_requests += o.ok_requests;
        self.ok_events += o.ok_events;
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.io_errors += o.io_errors;
        self.body_bytes += o.body_bytes;
        self.bodies += o.bodies;
        self.unsent += o.unsent;
    }
}

struct Conn {
    cfg: Arc<LoadConfig>,
    maker: BodyMaker,
    sender: Option<SendRequest<Full<Bytes>>>,
    buf: Vec<u8>,
    tally: Tally,
    /// No request may run past this.
    deadline: Instant,
    /// Start of the measured window.
    measure_from: Instant,
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl Conn {
    /// Sends one request; returns whether it got a 2xx answer.
    async fn send(&mut self) -> bool {
        self.maker.next_body(&mut self.buf);
        self.tally.body_bytes += self.buf.len() as u64;
        self.tally.bodies += 1;
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let result = match tokio::time::timeout_at(deadline, self.exchange()).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("request still running at the end of the run")),
        };
        match result {
            Ok(status) if (200..300).contains(&status) => {
                self.tally.ok_requests += 1;
                self.tally.ok_events += self.maker.per_request() as u64;
                true
            }
            Ok(status) => {
                *self.tally.statuses.entry(status).or_default() += 1;
                false
            }
            Err(_) => {
                self.tally.io_errors += 1;
                self.sender = None;
                // Do not spin against a dead server.
                tokio::time::sleep(Duration::from_millis(10)).await;
                false
            }
        }
    }

    async fn exchange(&mut self) -> Result<u16> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.sender = Some(connect(self.cfg.addr).await?);
        }
        let Some(sender) = self.sender.as_mut() else { bail!("no connection") };
        let req = Request::post(self.cfg.path.as_str())
            .header(HOST, self.cfg.addr.to_string())
            .header(CONTENT_TYPE, "text/plain;charset=UTF-8")
            .header(UA_HEADER, USER_AGENT)
            .header(ORIGIN_HEADER, ORIGIN)
            .body(Full::new(Bytes::copy_from_slice(&self.buf)))?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        resp.into_body().collect().await?;
        Ok(status)
    }

    fn record(&mut self, since: Instant) {
        let us = since.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        self.tally.lat.push(us);
        self.tally.measured += 1;
        let b = (since.saturating_duration_since(self.measure_from).as_millis() / 100) as usize;
        if self.tally.buckets.len() <= b {
            self.tally.buckets.resize(b + 1, (0, 0));
        }
        self.tally.buckets[b].0 += 1;
        self.tally.buckets[b].1 = self.tally.buckets[b].1.max(us);
    }
}

/// Runs the load and returns its report. Needs a tokio runtime.
pub async fn run(cfg: LoadConfig) -> Result<LoadReport> {
    let cfg = Arc::new(cfg);
    // Connect everything before the clock starts.
    let mut conns = Vec::with_capacity(cfg.connections);
    for i in 0..cfg.connections {
        let sender = connect(cfg.addr).await?;
        conns.push(Conn {
            cfg: cfg.clone(),
            maker: BodyMaker::new(&cfg.token, &cfg.site, &cfg.tag, i, cfg.events_per_request),
            sender: Some(sender),
            buf: Vec::with_capacity(1024 + 450 * cfg.events_per_request),
            tally: Tally::default(),
            deadline: Instant::now(),
            measure_from: Instant::now(),
        });
    }
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    let hard_end = end + cfg.grace;
    for c in &mut conns {
        c.deadline = hard_end;
        c.measure_from = measure_from;
    }
    let mut tasks = Vec::new();
    let mut pacer = None;
    match cfg.mode {
        Mode::Closed => {
            for mut c in conns {
                tasks.push(tokio::spawn(async move {
                    loop {
                        let t = Instant::now();
                        if t >= end {
                            break;
                        }
                        let ok = c.send().await;
                        if ok && t >= measure_from {
                            c.record(t);
                        }
                    }
                    c.tally
                }));
            }
        }
        Mode::Open { rate } => {
            if rate.is_nan() || rate <= 0.0 {
                bail!("rate must be positive");
            }
            let (tx, rx) = mpsc::unbounded_channel::<Instant>();
            let rx = Arc::new(Mutex::new(rx));
            pacer = Some(std::thread::spawn(move || {
                let interval = Duration::from_secs_f64(1.0 / rate);
                let mut i: u32 = 0;
                loop {
                    let intended = start + interval * i;
                    if intended >= end {
                        break;
                    }
                    let now = Instant::now();
                    if intended > now {
                        std::thread::sleep(intended - now);
                    }
                    if tx.send(intended).is_err() {
                        break;
                    }
                    i = i.saturating_add(1);
                }
            }));
            for mut c in conns {
                let rx = rx.clone();
                tasks.push(tokio::spawn(async move {
                    loop {
                        let ticket = { rx.lock().await.recv().await };
                        let Some(intended) = ticket else { break };
                        if Instant::now() >= hard_end {
                            c.tally.unsent += 1;
                            continue;
                        }
                        let ok = c.send().await;
                        if ok && intended >= measure_from {
                            c.record(intended);
                        }
                    }
                    c.tally
                }));
            }
        }
    }
    let mut total = Tally::default();
    for t in tasks {
        total.merge(t.await?);
    }
    if let Some(p) = pacer {
        let _ = p.join();
    }
    let seconds = cfg.duration.as_secs_f64();
    let mut lat = std::mem::take(&mut total.lat);
    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            return 0;
        }
        let i = ((p * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        u64::from(lat[i])
    };
    let mean = if lat.is_empty() { 0 } else { lat.iter().map(|&v| u64::from(v)).sum::<u64>() / lat.len() as u64 };
    Ok(LoadReport {
        tag: cfg.tag.clone(),
        mode: match cfg.mode {
            Mode::Closed => "closed".into(),
            Mode::Open { .. } => "open".into(),
        },
        offered_rps: match cfg.mode {
            Mode::Open { rate } => Some(rate),
            Mode::Closed => None,
        },
        connections: cfg.connections,
        events_per_request: cfg.events_per_request,
        body_bytes: total.body_bytes.checked_div(total.bodies).unwrap_or(0) as usize,
        warmup_s: cfg.warmup.as_secs_f64(),
        seconds,
        measured_requests: total.measured,
        rps: total.measured as f64 / seconds,
        eps: (total.measured * cfg.events_per_request as u64) as f64 / seconds,
        p50_us: pct(0.50),
        p90_us: pct(0.90),
        p99_us: pct(0.99),
        p999_us: pct(0.999),
        max_us: lat.last().map(|&v| u64::from(v)).unwrap_or(0),
        mean_us: mean,
        ok_requests: total.ok_requests,
        ok_events: total.ok_events,
        statuses: total.statuses,
        io_errors: total.io_errors,
        unsent: total.unsent,
        client_cpu_s: crate::proc_stat::self_cpu_seconds(),
        timeline: total.buckets.iter().enumerate().map(|(i, &(n, m))| [i as u64 * 100, n, u64::from(m)]).collect(),
    })
}
