//! Delivery: the event queue, request bodies waiting to be sent, `fetch`
//! with retries, `sendBeacon` when the page goes away, and the one timer
//! that drives flushes, retries and deferred page work.
use super::dom::{fetch, get, get_f64, set};
use crate::batch;
use crate::retry::{backoff_ms, classify, Outcome, MAX_ATTEMPTS};
use alloc::string::String;
use alloc::vec::Vec;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Window;

/// Events that trigger an immediate flush.
pub const FLUSH_EVENTS: usize = 10;
/// How long an event waits for company before it is sent.
pub const FLUSH_MS: f64 = 1_000.0;

/// Work driven by the timer.
#[derive(Clone, Copy)]
pub enum Task {
    /// Seal the queue into a request body and send.
    Flush = 0,
    /// A backoff ended: send again.
    Retry = 1,
    /// A history change settled: maybe a page view.
    Nav = 2,
    /// Measure scroll depth.
    Scroll = 3,
}

/// A request body and how often it was tried.
struct Out {
    body: String,
    attempt: u8,
}

/// Queue, outbox and timer.
pub struct Sender {
    endpoint: String,
    prefix: String,
    queue: Vec<String>,
    /// Bodies to deliver, oldest first; while a fetch is in flight it is
    /// for `outbox[0]`.
    outbox: Vec<Out>,
    /// Sequence number of the fetch in flight; 0 when none.
    inflight: u32,
    seq: u32,
    wait_until: f64,
    due: [f64; 4],
    timer: i32,
    timer_at: f64,
    on_timer: Closure<dyn FnMut(JsValue)>,
}

impl Sender {
    /// A sender to `endpoint` (the full `/v1/events` URL).
    pub fn new(endpoint: String) -> Sender {
        Sender {
            endpoint,
            prefix: String::new(),
            queue: Vec::new(),
            outbox: Vec::new(),
            inflight: 0,
            seq: 0,
            wait_until: 0.0,
            due: [0.0; 4],
            timer: 0,
            timer_at: 0.0,
            on_timer: Closure::new(|_: JsValue| super::tick()),
        }
    }

    /// Sets the batch prefix (visitor, session, consent) for events queued
    /// from now on.
    pub fn set_prefix(&mut self, prefix: String) {
        self.prefix = prefix;
    }

    /// Number of events queued and not yet sealed into a body.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues one encoded event.
    pub fn push(&mut self, ev: String, now: f64, win: &Window) {
        self.queue.push(ev);
        if self.queue.len() >= FLUSH_EVENTS {
            self.seal();
            self.pump(now);
        } else {
            self.schedule(Task::Flush, now + FLUSH_MS, win);
        }
    }

    /// Seals every queued event into request bodies with the current prefix.
    pub fn seal(&mut self) {
        while let Some(body) = batch::take(&self.prefix, &mut self.queue) {
            self.outbox.push(Out { body, attempt: 0 });
        }
    }

    /// Sends the oldest body unless one is in flight or a backoff runs.
    pub fn pump(&mut self, now: f64) {
        if self.inflight != 0 || now < self.wait_until {
            return;
        }
        let Some(out) = self.outbox.first() else { return };
        let init: JsValue = js_sys::Object::new().into();
        set(&init, "method", &JsValue::from_str("POST"));
        set(&init, "keepalive", &JsValue::TRUE);
        // A string body goes as `text/plain;charset=UTF-8`: no preflight.
        set(&init, "body", &JsValue::from_str(&out.body));
        let Ok(promise) = fetch(&self.endpoint, &init) else { return };
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        self.inflight = seq;
        let done = Closure::once_into_js(move |v: JsValue| super::on_response(seq, v));
        promise.then_both(&done, &done);
    }

    /// A fetch settled with `v` (a `Response`, or the network error).
    pub fn response(&mut self, seq: u32, v: &JsValue, now: f64, rand01: f64, win: &Window) {
        if seq != self.inflight {
            return; // from before a stop/start
        }
        self.inflight = 0;
        let status = get_f64(v, "status");
        let status = if status.is_finite() { status as u16 } else { 0 };
        match classify(status) {
            Outcome::Done | Outcome::GiveUp => {
                if !self.outbox.is_empty() {
                    self.outbox.remove(0);
                }
            }
            Outcome::Retry => {
                let attempt = self.outbox.first().map(|o| o.attempt + 1).unwrap_or(MAX_ATTEMPTS);
                if attempt >= MAX_ATTEMPTS {
                    if !self.outbox.is_empty() {
                        self.outbox.remove(0);
                    }
                } else {
                    if let Some(o) = self.outbox.first_mut() {
                        o.attempt = attempt;
                    }
                    let retry_after = if status == 429 || status == 503 { retry_after_s(v) } else { None };
                    self.wait_until = now + backoff_ms(attempt, retry_after, rand01);
                    self.schedule(Task::Retry, self.wait_until, win);
                    return;
                }
            }
        }
        self.pump(now);
    }

    /// The page is going away or hidden: everything not in flight goes by
    /// `sendBeacon` now (a body the browser refuses stays for later).
    pub fn beacon(&mut self, win: &Window) {
        self.seal();
        let nav = win.navigator();
        let mut i = usize::from(self.inflight != 0);
        while i < self.outbox.len() {
            if nav.send_beacon_with_opt_str(&self.endpoint, Some(&self.outbox[i].body)) == Ok(true) {
                self.outbox.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Asks for `task` to run at `at` (or earlier if already asked).
    pub fn schedule(&mut self, task: Task, at: f64, win: &Window) {
        let d = &mut self.due[task as usize];
        if *d == 0.0 || at < *d {
            *d = at;
        }
        self.arm(win);
    }

    /// The tasks due at `now` (bit `1 << Task`), taken off the schedule.
    pub fn take_due(&mut self, now: f64) -> u8 {
        self.timer = 0;
        let mut mask = 0;
        for (i, d) in self.due.iter_mut().enumerate() {
            if *d != 0.0 && *d <= now + 4.0 {
                *d = 0.0;
                mask |= 1 << i;
            }
        }
        if mask & (1 << Task::Retry as u8) != 0 {
            self.wait_until = 0.0;
        }
        mask
    }

    /// Sets the timer for the earliest task.
    pub fn arm(&mut self, win: &Window) {
        let next = self.due.iter().copied().filter(|d| *d != 0.0).fold(f64::INFINITY, f64::min);
        if !next.is_finite() || (self.timer != 0 && self.timer_at <= next) {
            return;
        }
        if self.timer != 0 {
            win.clear_timeout_with_handle(self.timer);
        }
        let delay = (next - super::dom::now()).clamp(0.0, 2e9) as i32;
        self.timer = win
            .set_timeout_with_callback_and_timeout_and_arguments_0(self.on_timer.as_ref().unchecked_ref(), delay)
            .unwrap_or(0);
        self.timer_at = next;
    }

    /// Stops the timer and drops everything unsent.
    pub fn cancel(&mut self, win: &Window) {
        if self.timer != 0 {
            win.clear_timeout_with_handle(self.timer);
            self.timer = 0;
        }
        self.due = [0.0; 4];
        self.queue.clear();
        self.outbox.clear();
        self.inflight = 0;
    }
}

/// `Retry-After` in seconds, if the response has one in that form (the
/// collector must list it in `Access-Control-Expose-Headers`).
fn retry_after_s(v: &JsValue) -> Option<u64> {
    let headers: web_sys::Headers = get(v, "headers").dyn_into().ok()?;
    let h = headers.get("Retry-After").ok()??;
    crate::cookie::parse_u64(h.trim())
}
