//! Delivery: the event queue, request bodies waiting to be sent, `fetch`
//! with retries, `sendBeacon` when the page goes away, and the timers
//! (one per task, kept by the host) that drive flushes, retries and
//! deferred page work.
use crate::batch;
use crate::host::{Host, Task};
use crate::retry::{backoff_ms, classify, Outcome, MAX_ATTEMPTS};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

/// Events that trigger an immediate flush.
pub const FLUSH_EVENTS: usize = 10;
/// How long an event waits for company before it is sent.
pub const FLUSH_MS: f64 = 1_000.0;
/// Most request bodies kept while the collector cannot be reached; the
/// newest are dropped beyond that.
pub const MAX_OUTBOX: usize = 64;

/// Sender generations, so that a fetch settling after a stop (or a stop
/// and a new start) is not taken for the new sender's request.
static GENERATION: AtomicU32 = AtomicU32::new(1);

/// Queue, outbox and the retry state.
pub struct Sender {
    prefix: String,
    queue: Vec<String>,
    /// The body being delivered (in flight, or waiting for its retry).
    current: Option<String>,
    /// Attempts made for `current`.
    attempts: u8,
    inflight: bool,
    /// Bodies waiting their turn.
    outbox: Vec<String>,
    gen: u32,
    /// No request before this (a backoff runs).
    wait_until: f64,
}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
    }
}

impl Sender {
    /// A sender of a new generation.
    pub fn new() -> Sender {
        Sender {
            prefix: String::new(),
            queue: Vec::new(),
            current: None,
            attempts: 0,
            inflight: false,
            outbox: Vec::new(),
            gen: GENERATION.fetch_add(1, Ordering::Relaxed),
            wait_until: 0.0,
        }
    }

    /// Sets the batch prefix (visitor, session, consent) for events queued
    /// from now on.
    pub fn set_prefix(&mut self, prefix: String) {
        self.prefix = prefix;
    }

    /// Queues one encoded event.
    pub fn push(&mut self, h: &impl Host, ev: String, now: f64) {
        self.queue.push(ev);
        if self.queue.len() >= FLUSH_EVENTS {
            self.seal();
            self.pump(h, now);
        } else {
            h.set_timer(Task::Flush, FLUSH_MS);
        }
    }

    /// Seals every queued event into request bodies with the current prefix.
    pub fn seal(&mut self) {
        // `pump` takes the newest first: order does not matter to the
        // collector (events carry their own time), and it is cheaper.
        batch::seal(&self.prefix, &self.queue, &mut self.outbox);
        self.queue.clear();
        self.outbox.truncate(MAX_OUTBOX);
    }

    /// Sends the current body (or the next one) unless one is in flight or
    /// a backoff runs.
    pub fn pump(&mut self, h: &impl Host, now: f64) {
        if self.inflight || now < self.wait_until {
            return;
        }
        if self.current.is_none() {
            self.current = self.outbox.pop();
            self.attempts = 0;
        }
        if let Some(body) = &self.current {
            self.inflight = h.fetch(body, self.gen);
        }
    }

    /// A fetch of generation `gen` settled with `status` (0: network error).
    pub fn response(&mut self, h: &impl Host, gen: u32, status: f64, retry_after: Option<u64>, now: f64) {
        if gen != self.gen || !self.inflight {
            return;
        }
        self.inflight = false;
        let status = if status > 0.0 && status < 1000.0 { status as u16 } else { 0 };
        self.attempts += 1;
        if classify(status) == Outcome::Retry && self.attempts < MAX_ATTEMPTS {
            let retry_after = if status == 429 || status == 503 { retry_after } else { None };
            let wait = backoff_ms(self.attempts, retry_after, h.random());
            self.wait_until = now + wait;
            h.set_timer(Task::Retry, wait);
            return;
        }
        // Delivered, refused for good, or out of attempts.
        self.current = None;
        self.pump(h, now);
    }

    /// The page is hidden or going away: everything not in flight goes by
    /// `sendBeacon` now (a body the browser refuses stays for later).
    pub fn beacon(&mut self, h: &impl Host) {
        self.seal();
        if !self.inflight {
            if let Some(b) = self.current.take() {
                self.outbox.push(b);
            }
        }
        // A body the browser refuses stays for later.
        self.outbox.retain(|body| !h.beacon(body));
    }

    /// The backoff ended (its timer fired).
    pub fn retry_due(&mut self) {
        self.wait_until = 0.0;
    }
}
