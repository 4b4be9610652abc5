//! `ktra-benches` — how fast ktra is, measured on the machine it runs on.
//!
//! Owns the workload ([`workload`]: realistic event batches and consent
//! tokens), the collector's per-event CPU path without HTTP ([`pipeline`],
//! for the criterion micro-benchmarks in `benches/micro.rs`), the HTTP load
//! generator ([`load`]: keep-alive connections, closed-loop saturation and
//! open-loop fixed rates with coordinated-omission-corrected latency), the
//! parse-and-discard ceiling server ([`ceiling`]), the ClickHouse ceiling
//! and floor ([`dbload`]), the webhook latency run ([`webhooks`]) and
//! `/proc` readings ([`proc_stat`]). The binary
//! `ktra-bench` exposes them as subcommands.
//!
//! It does not start ClickHouse or the collector and does not write the
//! report: `cargo xtask bench` (`xtask/src/bench.rs`) orchestrates the
//! phases and writes `BENCHMARKS.md`. Benchmarks measure; they assert
//! nothing.
pub mod ceiling;
pub mod dbload;
pub mod load;
pub mod pipeline;
pub mod proc_stat;
pub mod webhooks;
pub mod workload;
