//! Logging and metrics. Metric names live here so that dashboards and tests
//! have one list; every rejected or dropped event increments a counter
//! labelled by a fixed reason.
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Events stored (handed to the writer), by site.
pub const ACCEPTED_EVENTS: &str = "ktra_accepted_events_total";
/// Events rejected, by site and reason.
pub const REJECTED_EVENTS: &str = "ktra_rejected_events_total";
/// Requests answered with an error, by reason.
pub const REJECTED_REQUESTS: &str = "ktra_rejected_requests_total";
/// Rows the writer could not store and dropped, by table and reason.
pub const DROPPED_ROWS: &str = "ktra_dropped_rows_total";
/// Rows inserted into ClickHouse, by table.
pub const INSERTED_ROWS: &str = "ktra_inserted_rows_total";
/// Rows per insert, by table.
pub const BATCH_ROWS: &str = "ktra_batch_rows";
/// Insert latency in seconds, by table.
pub const INSERT_SECONDS: &str = "ktra_insert_duration_seconds";
/// Failed insert attempts, by table and kind (retryable, data).
pub const INSERT_ERRORS: &str = "ktra_insert_errors_total";
/// Requests waiting in the writer queue.
pub const QUEUE_DEPTH: &str = "ktra_queue_depth";
/// Rows buffered in the writer, not yet inserted.
pub const BUFFERED_ROWS: &str = "ktra_buffered_rows";
/// Rows written to the spool, by table.
pub const SPOOLED_ROWS: &str = "ktra_spooled_rows_total";
/// Bytes waiting in the spool.
pub const SPOOL_BYTES: &str = "ktra_spool_bytes";
/// Records waiting in the spool.
pub const SPOOL_RECORDS: &str = "ktra_spool_records";
/// Histogram: seconds one group commit's fsync of the spool took (disk mode's floor under request latency).
pub const SPOOL_FSYNC_SECONDS: &str = "ktra_spool_fsync_seconds";
/// Consent decisions recorded, by action.
pub const CONSENT_DECISIONS: &str = "ktra_consent_decisions_total";
/// Erasures of consent chains, by state (requested, applied, failed).
pub const ERASURES: &str = "ktra_erasures_total";
/// `ALTER TABLE … DELETE` mutations issued for erasures, by table.
pub const ERASURE_MUTATIONS: &str = "ktra_erasure_mutations_total";
/// Static asset requests, by asset kind (loader, banner, pixel_js, pixel_wasm, dashboard).
pub const ASSET_REQUESTS: &str = "ktra_asset_requests_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .ok()
                .unwrap_or_default()
                .build_recorder();
            let handle = recorder.handle();
            // A second recorder (another library in tests) is not fatal: metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Initializes `tracing` with `RUST_LOG`-style filtering (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ktra_collector=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}
